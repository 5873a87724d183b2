/** GatewayHost: an invalid bundled config, and hot reload from the config record in a KV key (the CONFIG_KV binding). */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { RequestLog } from '../../src/core/logging'
import { prepareConfig } from '../../src/config/prepared'
import { configVersion, GatewayHost } from '../../src/gateway/host'
import { manualRuntime } from '../support/runtime'
import { call, captureEvents, env, says, writeRecord, WRITTEN_AT } from './helpers'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('a bundled config prepared at build time', () => {
  it('runs without the validator, under the version of the config as written', async () => {
    const source = says('prepared')
    const result = await prepareConfig(source)
    if (!result.ok) throw new Error(result.problems.join('; '))
    const prepared = new GatewayHost(result.prepared)
    const res = await call(prepared, '/says')
    expect(await res.text()).toBe('prepared')
    const plain = new GatewayHost(source)
    await call(plain, '/says')
    expect(prepared.version).toBe(plain.version)
    // What it runs is the prepared config itself: a change made to it after the build is not validated again.
    const edited = structuredClone(result.prepared)
    edited.config.routes[0]!.id = ''
    expect((await call(new GatewayHost(edited), '/says')).status).toBe(200)
  })

  it('is refused at build time with the problems, as the worker would refuse it', async () => {
    const result = await prepareConfig({ routes: [{ id: 'r', match: { path: '/x' }, action: { type: 'proxy', upstream: 'users' } }] })
    expect(result).toEqual({ ok: false, problems: ['routes[0].action.upstream: unknown upstream "users" (known: none)'] })
  })
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

  it('a record replaces the bundled config; a bad one is logged and the last good one kept', async () => {
    const key = 'reload-1.json'
    const bundled = says('bundled', { gateway: { reload: { key, refreshSeconds: 3600 } } })
    await writeRecord(key, says('from-kv-1'))
    const events = captureEvents()
    const host = new GatewayHost(bundled)
    expect(await (await call(host, '/says')).text()).toBe('from-kv-1')
    expect(host.recordVersion).toBe(1)
    const first = host.version
    expect(first).toMatch(/^[0-9a-f]{16}$/)

    for (const [bad, problems] of [
      [says('x', { rotues: [] } as never), ['rotues: unknown key, did you mean "routes"? (allowed: $schema, gateway, versioning, upstreams, consumers, plans, policies, routes)']],
      [{ upstreams: { u: { url: '${NOT_SET}' } }, routes: [] }, ['upstreams.u.url: Worker variable "NOT_SET" is not set']],
    ] as const) {
      const version = await writeRecord(key, bad as never)
      await host.reload(env)
      expect(await (await call(host, '/says')).text()).toBe('from-kv-1')
      expect(host.version).toBe(first)
      expect(events().at(-1)).toEqual({ event: 'config_reload_rejected', key, version, problems, running: 1 })
    }

    const second = await writeRecord(key, says('from-kv-2'))
    await host.reload(env)
    expect(await (await call(host, '/says')).text()).toBe('from-kv-2')
    expect(events().at(-1)).toEqual({ event: 'config_reloaded', key, version: second, writtenAt: WRITTEN_AT, configVersion: host.version, previous: 1 })
    // The reload settings stay those of the bundled config, though the KV config has none.
    await writeRecord(key, says('from-kv-3'))
    await host.reload(env)
    expect(await (await call(host, '/says')).text()).toBe('from-kv-3')
  })

  it('a reloaded config is logged as information (console.log), a refused one as an error', async () => {
    const key = 'reload-levels.json'
    await writeRecord(key, says('good'))
    const spy = { log: vi.spyOn(console, 'log').mockImplementation(() => {}), error: vi.spyOn(console, 'error').mockImplementation(() => {}) }
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key, refreshSeconds: 3600 } } }), { writeLog: () => {} })
    await call(host, '/says')
    await writeRecord(key, says('bad', { rotues: [] } as never))
    await host.reload(env)
    const events = (calls: unknown[][]) => calls.map(([line]) => JSON.parse(String(line)).event)
    expect(events(spy.log.mock.calls)).toEqual(['config_reloaded'])
    expect(events(spy.error.mock.calls)).toEqual(['config_reload_rejected'])
  })

  it('requests pick up a new record once refreshSeconds have passed', async () => {
    const key = 'reload-2.json'
    await writeRecord(key, says('old'))
    const clock = manualRuntime()
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key, refreshSeconds: 1 } } }), { runtime: clock })
    expect(await (await call(host, '/says')).text()).toBe('old')
    await writeRecord(key, says('new'))
    // Inside refreshSeconds: no re-read yet.
    expect(await (await call(host, '/says')).text()).toBe('old')
    await clock.advance(1_100)
    // This request starts the re-read (in waitUntil); the next one is served by the new config.
    await call(host, '/says')
    expect(await (await call(host, '/says')).text()).toBe('new')
  })

  it('a missing KV binding is logged; the isolate answers 503, or runs the bundled config with fallback "bundled"', async () => {
    const events = captureEvents()
    const strict = new GatewayHost(says('bundled', { gateway: { reload: { kv: 'NO_SUCH_KV' } } }), { writeLog: () => {} })
    const res = await call(strict, '/says')
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('30')
    expect(events()).toEqual([{ event: 'config_reload_failed', key: 'gateway.json', reason: 'no KV binding "NO_SUCH_KV"', running: 'none' }])
    const lenient = new GatewayHost(says('bundled', { gateway: { reload: { kv: 'NO_SUCH_KV', fallback: 'bundled' } } }))
    expect(await (await call(lenient, '/says')).text()).toBe('bundled')
    expect(events().at(-1)).toEqual({ event: 'config_reload_failed', key: 'gateway.json', reason: 'no KV binding "NO_SUCH_KV"', running: 'bundled' })
  })

  it('the admin API shows the active version', async () => {
    const key = 'reload-3.json'
    await writeRecord(key, says('kv'))
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key } } }))
    const res = await call(host, '/_edgeway/health', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok', configVersion: host.version, routes: 1, upstreams: 0 })
    expect(host.version).toBe(await configVersion((await kv.get(key))!.split('\n').slice(1).join('\n')))
  })
})
