/** GatewayHost: an invalid bundled config, and hot reload from a KV key (the CONFIG_KV binding). */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env as poolEnv } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { Env } from '../../src/core/env'
import { configVersion, GatewayHost } from '../../src/gateway/host'
import type { RequestLog } from '../../src/core/logging'
import { manualRuntime } from '../support/runtime'

const env = poolEnv as unknown as Env & typeof poolEnv

async function call(host: GatewayHost, path: string, init: RequestInit = {}, hostEnv: Env = env): Promise<Response> {
  const ctx = createExecutionContext()
  const res = await host.fetch(new Request(`http://gw.test${path}`, init), hostEnv, ctx)
  await waitOnExecutionContext(ctx)
  return res
}

const says = (word: string, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput => ({
  ...extra,
  routes: [{ id: 'says', match: { path: '/says' }, action: { type: 'respond', body: word } }],
})

/** Captures the operator events (`logEvent` writes them to console.error as JSON). */
function captureEvents() {
  const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
  return () => spy.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('an invalid bundled config', () => {
  it.each([
    ['fails validation', { routes: [{ id: 'r', match: { path: '/x' }, action: { type: 'proxy', upstream: 'users' } }] }, 'routes[0].action.upstream: unknown upstream "users" (known: none)'],
    ['names an unset Worker variable', { upstreams: { u: { url: '${SECRET_INTERNAL_HOST}' } }, routes: [] }, 'upstreams.u.url: Worker variable "SECRET_INTERNAL_HOST" is not set'],
    ['is not a config at all', 'not json', '(root): expected Object, received "not json"'],
  ])('%s: every request is a safe 500 problem, the problems go to the log', async (_, bundled, problem) => {
    const events = captureEvents()
    const lines: RequestLog[] = []
    const host = new GatewayHost(bundled, { writeLog: (line) => lines.push(line) })
    for (const path of ['/x', '/says', '/_edgeway/health']) {
      const res = await call(host, `${path}?token=t0p-s3cret`, { method: 'POST' })
      // Still one request log line, without the query.
      expect(lines.at(-1)).toEqual({ requestId: res.headers.get('x-request-id'), method: 'POST', path, status: 500, error: 'ERR_CONFIG_INVALID' })
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      const text = await res.text()
      expect(JSON.parse(text)).toEqual({
        type: 'urn:edgeway:problem:config-invalid',
        title: 'Gateway misconfigured',
        status: 500,
        detail: 'The gateway configuration is invalid; see the gateway logs.',
        instance: res.headers.get('x-request-id'),
        code: 'ERR_CONFIG_INVALID',
      })
      expect(text).not.toContain('users')
      expect(text).not.toContain('SECRET_INTERNAL_HOST')
    }
    expect(host.version).toBeUndefined()
    expect(events()).toEqual([{ event: 'config_invalid', source: 'bundled', problems: [problem] }])
  })
})

describe('hot reload from KV', () => {
  const kv = env.CONFIG_KV

  it('without a KV config, the bundled one runs', async () => {
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key: 'absent-key' } } }))
    expect(await (await call(host, '/says')).text()).toBe('bundled')
  })

  it('a valid KV config replaces the bundled one; a bad one is logged and the last good one kept', async () => {
    const key = 'reload-1.json'
    const bundled = says('bundled', { gateway: { reload: { key, refreshSeconds: 3600 } } })
    const first = JSON.stringify(says('from-kv-1'))
    await kv.put(key, first)
    const events = captureEvents()
    const host = new GatewayHost(bundled)
    expect(await (await call(host, '/says')).text()).toBe('from-kv-1')
    expect(host.version).toBe(await configVersion(first))
    expect(host.version).toMatch(/^[0-9a-f]{16}$/)

    for (const [bad, problems] of [
      [JSON.stringify(says('x', { rotues: [] } as never)), ['rotues: unknown key, did you mean "routes"? (allowed: $schema, gateway, versioning, upstreams, consumers, plans, policies, routes)']],
      ['{ not json', [expect.stringMatching(/^not valid JSON: /)]],
      [JSON.stringify({ upstreams: { u: { url: '${NOT_SET}' } }, routes: [] }), ['upstreams.u.url: Worker variable "NOT_SET" is not set']],
    ] as const) {
      await kv.put(key, bad)
      await host.reload(env)
      expect(await (await call(host, '/says')).text()).toBe('from-kv-1')
      expect(host.version).toBe(await configVersion(first))
      expect(events().at(-1)).toEqual({ event: 'config_reload_rejected', key, problems, keeping: await configVersion(first) })
    }

    const second = JSON.stringify(says('from-kv-2'))
    await kv.put(key, second)
    await host.reload(env)
    expect(await (await call(host, '/says')).text()).toBe('from-kv-2')
    expect(events().at(-1)).toEqual({ event: 'config_reloaded', version: await configVersion(second), previous: await configVersion(first) })
    // The reload settings stay those of the bundled config, though the KV config has none.
    const third = JSON.stringify(says('from-kv-3'))
    await kv.put(key, third)
    await host.reload(env)
    expect(await (await call(host, '/says')).text()).toBe('from-kv-3')
  })

  it('requests pick up a KV change once refreshSeconds have passed', async () => {
    const key = 'reload-2.json'
    await kv.put(key, JSON.stringify(says('old')))
    const clock = manualRuntime()
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key, refreshSeconds: 1 } } }), { runtime: clock })
    expect(await (await call(host, '/says')).text()).toBe('old')
    await kv.put(key, JSON.stringify(says('new')))
    // Inside refreshSeconds: no re-read yet.
    expect(await (await call(host, '/says')).text()).toBe('old')
    await clock.advance(1_100)
    // This request starts the re-read (in waitUntil); the next one is served by the new config.
    await call(host, '/says')
    expect(await (await call(host, '/says')).text()).toBe('new')
  })

  it('a missing KV binding is logged and the bundled config keeps running', async () => {
    const events = captureEvents()
    const host = new GatewayHost(says('bundled', { gateway: { reload: { kv: 'NO_SUCH_KV' } } }))
    expect(await (await call(host, '/says')).text()).toBe('bundled')
    expect(events()).toEqual([{ event: 'config_reload_failed', reason: 'no KV binding "NO_SUCH_KV"' }])
  })

  it('the admin API shows the active version', async () => {
    const key = 'reload-3.json'
    const text = JSON.stringify(says('kv'))
    await kv.put(key, text)
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key } } }))
    const res = await call(host, '/_edgeway/health', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok', configVersion: await configVersion(text), routes: 1, upstreams: 0 })
  })
})
