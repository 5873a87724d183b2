/**
 * Hot reload across isolates: every `GatewayHost` here is a separate isolate (a restart), sharing
 * the KV namespace. The config record's writer is `npm run reload` (test/scripts/reload.test.mjs);
 * here `writeRecord` writes records the same way.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { Env } from '../../src/core/env'
import type { RequestLog } from '../../src/core/logging'
import { GatewayHost } from '../../src/gateway/host'
import { manualRuntime } from '../support/runtime'
import { call, captureEvents, env, says, writeRecord, WRITTEN_AT } from './helpers'

afterEach(() => {
  vi.restoreAllMocks()
})

const kv = env.CONFIG_KV

/** The bundled config: `/says` open to anyone, reloaded from `key`. */
const bundledFor = (key: string, reload: Record<string, unknown> = {}) => says('bundled', { gateway: { reload: { key, refreshSeconds: 60, ...reload } } })

/** The KV config: `/says` behind an API key (no key: 401). */
const guarded: GatewayConfigInput = {
  routes: [{ id: 'says', match: { path: '/says' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }], action: { type: 'respond', body: 'guarded' } }],
}
const invalid = says('x', { rotues: [] } as never)
const INVALID_PROBLEM = 'rotues: unknown key, did you mean "routes"? (allowed: $schema, gateway, versioning, upstreams, consumers, plans, policies, routes)'

const isolate = (key: string, reload?: Record<string, unknown>, lines: RequestLog[] = []) =>
  new GatewayHost(bundledFor(key, reload), { writeLog: (line) => lines.push(line) })

describe('a security change made through KV survives restarts', () => {
  it('after an invalid record, the running isolate keeps the last good config and a new one answers 503, never the bundled config', async () => {
    const key = 'isolates-1.json'
    const events = captureEvents()
    const good = await writeRecord(key, guarded)
    const running = isolate(key)
    expect((await call(running, '/says')).status).toBe(401)

    const bad = await writeRecord(key, invalid)
    await running.reload(env)
    expect((await call(running, '/says')).status).toBe(401)
    expect(events().at(-1)).toEqual({ event: 'config_reload_rejected', key, version: bad, problems: [INVALID_PROBLEM], running: good })

    const lines: RequestLog[] = []
    const restarted = isolate(key, {}, lines)
    const res = await call(restarted, '/says')
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('retry-after')).toBe('60')
    expect(await res.json()).toEqual({
      type: 'urn:edgeway:problem:config-unavailable',
      title: 'Gateway configuration unavailable',
      status: 503,
      detail: 'The gateway has no usable configuration; see the gateway logs.',
      instance: res.headers.get('x-request-id'),
      code: 'ERR_CONFIG_UNAVAILABLE',
    })
    expect(lines.at(-1)).toMatchObject({ path: '/says', status: 503, error: 'ERR_CONFIG_UNAVAILABLE' })
    // The log says what runs: nothing, not "keeping" a config this isolate never had.
    expect(events().at(-1)).toEqual({ event: 'config_reload_rejected', key, version: bad, problems: [INVALID_PROBLEM], running: 'none' })
  })

  it('with reload.fallback "bundled", a new isolate runs the bundled config and the log says so', async () => {
    const key = 'isolates-2.json'
    const events = captureEvents()
    await writeRecord(key, guarded)
    const bad = await writeRecord(key, invalid)
    const restarted = isolate(key, { fallback: 'bundled' })
    expect(await (await call(restarted, '/says')).text()).toBe('bundled')
    expect(events()).toEqual([{ event: 'config_reload_rejected', key, version: bad, problems: [INVALID_PROBLEM], running: 'bundled' }])
  })

  it('a record that is not one (a config written to the key by hand) is refused like an invalid one', async () => {
    const key = 'isolates-3.json'
    const events = captureEvents()
    await kv.put(key, JSON.stringify(says('by-hand')))
    expect((await call(isolate(key), '/says')).status).toBe(503)
    expect(events()).toEqual([
      {
        event: 'config_reload_rejected',
        key,
        problems: ['not a config record: write configs with `npm run reload -- <file> --env <env>`, which validates them and assigns their version'],
        running: 'none',
      },
    ])
  })

  it('a cut-off record is refused, not run short', async () => {
    const key = 'isolates-4.json'
    const events = captureEvents()
    const version = await writeRecord(key, says('whole'))
    const text = (await kv.get(key))!
    await kv.put(key, text.replace('"routes":1', '"routes":2'))
    expect((await call(isolate(key), '/says')).status).toBe(503)
    expect(events()).toEqual([{ event: 'config_reload_rejected', key, version, problems: ['record: the header says 2 routes, the lines hold 1 (cut off?)'], running: 'none' }])
  })
})

describe('the admin view of a record', () => {
  it("/config shows the record's config as written, redacted, read again from the record's text", async () => {
    const key = 'admin-view.json'
    const written: GatewayConfigInput = {
      routes: [
        { id: 'says', match: { path: '/says' }, action: { type: 'respond', body: 'from kv' } },
        { id: 'h', match: { path: '/h' }, policies: [{ type: 'headers', request: { set: { 'X-Key': 'kv-secret-1' } } }], action: { type: 'respond', body: 'h' } },
      ],
    }
    await writeRecord(key, written)
    const host = isolate(key)
    expect(await (await call(host, '/says')).text()).toBe('from kv')
    const res = await call(host, '/_edgeway/config', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    const text = await res.text()
    expect(text).not.toContain('kv-secret-1')
    expect((JSON.parse(text) as { config: unknown }).config).toEqual({
      routes: [written.routes[0], { ...written.routes[1], policies: [{ type: 'headers', request: { set: { 'X-Key': '[redacted]' } } }] }],
    })
  })
})

describe('versions', () => {
  it('an isolate never runs a version lower than one it has seen', async () => {
    const key = 'versions-1.json'
    const events = captureEvents()
    await writeRecord(key, says('v5'), 5)
    const host = isolate(key)
    expect(await (await call(host, '/says')).text()).toBe('v5')
    // A lagging KV read gives an older record.
    await writeRecord(key, says('v4'), 4)
    await host.reload(env)
    await host.reload(env)
    expect(await (await call(host, '/says')).text()).toBe('v5')
    expect(events().slice(1)).toEqual([{ event: 'config_record_stale', key, version: 4, seen: 5, running: 5 }])
  })

  it('a refused version is remembered: not validated or logged again on later refreshes', async () => {
    const key = 'versions-2.json'
    const events = captureEvents()
    const clock = manualRuntime()
    await writeRecord(key, says('good'))
    const host = new GatewayHost(says('bundled', { gateway: { reload: { key, refreshSeconds: 1 } } }), { runtime: clock, writeLog: () => {} })
    await call(host, '/says')
    const bad = await writeRecord(key, invalid)
    for (let i = 0; i < 4; i++) {
      await clock.advance(1_100)
      await call(host, '/says')
    }
    expect(events().filter((e) => e.event === 'config_reload_rejected')).toEqual([{ event: 'config_reload_rejected', key, version: bad, problems: [INVALID_PROBLEM], running: 1 }])
    const next = await writeRecord(key, says('fixed'))
    await clock.advance(1_100)
    await call(host, '/says')
    expect(await (await call(host, '/says')).text()).toBe('fixed')
    expect(host.recordVersion).toBe(next)
  })
})

describe('deleting the record', () => {
  it('a deletion record (npm run reload -- --delete) makes every isolate run the bundled config, logged', async () => {
    const key = 'deleted-1.json'
    const events = captureEvents()
    await writeRecord(key, guarded)
    const running = isolate(key)
    expect((await call(running, '/says')).status).toBe(401)
    const version = await writeRecord(key, 'deleted')
    await running.reload(env)
    expect(await (await call(running, '/says')).text()).toBe('bundled')
    expect(await (await call(isolate(key), '/says')).text()).toBe('bundled')
    const deleted = { event: 'config_record_deleted', key, version, writtenAt: WRITTEN_AT, running: 'bundled' }
    expect(events().slice(1)).toEqual([deleted, deleted])
  })

  it('a key deleted by hand brings back nothing silently: the running isolate keeps its config, a new one answers 503', async () => {
    const key = 'deleted-2.json'
    const events = captureEvents()
    await writeRecord(key, guarded)
    const running = isolate(key)
    expect((await call(running, '/says')).status).toBe(401)
    await kv.delete(key)
    await running.reload(env)
    await running.reload(env)
    expect((await call(running, '/says')).status).toBe(401)
    expect((await call(isolate(key), '/says')).status).toBe(503)
    expect(events().slice(1)).toEqual([
      { event: 'config_record_missing', key, running: 1 },
      { event: 'config_record_missing', key, running: 'none' },
    ])
  })
})

describe('reading the record', () => {
  it('a read that gets no answer within 1 s gives up: 503, logged', async () => {
    const events = captureEvents()
    const clock = manualRuntime()
    // A KV namespace that never answers (an outage outside the machine).
    const hanging = { get: () => new Promise(() => {}) } as unknown as KVNamespace
    const host = new GatewayHost(bundledFor('any.json'), { runtime: clock, writeLog: () => {} })
    const answer = call(host, '/says', {}, { ...env, CONFIG_KV: hanging } as Env)
    await clock.until(() => clock.pendingTimers() === 1)
    expect(clock.nextTimerIn()).toBe(1000)
    await clock.advance(1000)
    expect((await answer).status).toBe(503)
    expect(events()).toEqual([{ event: 'config_reload_failed', key: 'any.json', reason: 'no answer from KV within 1000 ms', running: 'none' }])
  })
})

describe('a large config', () => {
  /** `count` routes `/n/<i>` answering `<i>`; `extra` policies on the route at `at`. */
  const many = (count: number, at = -1, policies: unknown[] = []): GatewayConfigInput => ({
    routes: Array.from({ length: count }, (_, i) => ({
      id: `n${i}`,
      match: { path: `/n/${i}` },
      ...(i === at ? { policies: policies as never } : {}),
      action: { type: 'respond', body: `${i}` },
    })),
  })

  it('is validated and compiled in slices, its routes compiled on first match, all of them answering', async () => {
    const key = 'large-1.json'
    await writeRecord(key, many(2_500))
    const host = isolate(key)
    for (const i of [0, 1_234, 2_499]) expect(await (await call(host, `/n/${i}`)).text()).toBe(`${i}`)
  })

  it('what only compiling finds (an unset Worker secret) still refuses the whole config up front', async () => {
    const key = 'large-2.json'
    const events = captureEvents()
    const version = await writeRecord(key, many(2_500, 2_000, [{ type: 'origin-auth', secret: 'NO_SUCH_SECRET' }]))
    expect((await call(isolate(key), '/n/1')).status).toBe(503)
    expect(events()).toEqual([
      { event: 'config_reload_rejected', key, version, problems: ['routes[2000].policies[0].secret: Worker secret "NO_SUCH_SECRET" is not set'], running: 'none' },
    ])
  })

  it('text beyond ASCII survives being read in chunks and decoded a line at a time', async () => {
    const key = 'large-4.json'
    const body = (i: number) => `é ${i} 😀 ünïcödé`
    const config = many(2_500)
    config.routes.forEach((route, i) => ((route.action as { body: string }).body = body(i)))
    await writeRecord(key, config)
    const host = isolate(key)
    for (const i of [0, 777, 1_500, 2_499]) expect(await (await call(host, `/n/${i}`)).text()).toBe(body(i))
  })

  it('a line that is not JSON refuses the record, naming the line', async () => {
    const key = 'large-5.json'
    const events = captureEvents()
    const version = await writeRecord(key, many(2_500))
    const lines = (await kv.get(key))!.split('\n')
    lines[7] = lines[7]!.slice(0, -1)
    await kv.put(key, lines.join('\n'))
    expect((await call(isolate(key), '/n/1')).status).toBe(503)
    expect(events()).toEqual([
      { event: 'config_reload_rejected', key, version, problems: [expect.stringMatching(/^record line 8: not valid JSON: /)], running: 'none' },
    ])
  })

  it("a route's setup warning is logged once, when the config loads, not again on its first match", async () => {
    const key = 'large-3.json'
    const events = captureEvents()
    await writeRecord(key, many(2_500, 2_000, [{ type: 'cache', purge: { kv: 'NO_SUCH_KV' } }]))
    const host = isolate(key)
    expect(await (await call(host, '/n/2000')).text()).toBe('2000')
    expect(await (await call(host, '/n/2000')).text()).toBe('2000')
    expect(events().filter((e) => e.event === 'cache_purge_unavailable')).toEqual([
      { event: 'cache_purge_unavailable', at: 'routes[2000].policies[0]', reason: 'no KV binding "NO_SUCH_KV": purges can\'t reach this cache' },
    ])
  })

  it('a reload yields the thread between slices: parse and compile each take many turns', async () => {
    const { parseConfigSteps } = await import('../../src/config/parse')
    const { createGatewaySteps } = await import('../../src/gateway/create-gateway')
    const { runStepsYielding } = await import('../../src/core/steps')
    let turns = 0
    const count = () => {
      turns++
      return Promise.resolve()
    }
    const parsed = await runStepsYielding(parseConfigSteps(many(2_500)), count)
    // A turn per slice of routes (ROUTES_PER_STEP, at most 100) to check their structure (and depth), then one to check across fields.
    expect(turns).toBeGreaterThanOrEqual(2 * 25)
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'))
    turns = 0
    await runStepsYielding(createGatewaySteps(parsed.config, env), count)
    expect(turns).toBeGreaterThanOrEqual(2 * 25)
  })
})

describe('a refused version is not fetched again', () => {
  it('later refreshes read the header, not the rest of a large record', async () => {
    const key = 'refetch-1.json'
    captureEvents()
    const bytes: number[] = []
    // The real namespace, with the bytes each read takes counted.
    const counting = {
      get: async (k: string, type: 'stream') => {
        const stream = await env.CONFIG_KV.get(k, type)
        if (!stream) return stream
        let read = 0
        bytes.push(0)
        const at = bytes.length - 1
        return stream.pipeThrough(new TransformStream({ transform: (chunk: Uint8Array, out) => void ((bytes[at] = read += chunk.byteLength), out.enqueue(chunk)) }))
      },
    } as unknown as KVNamespace
    const routes = Array.from({ length: 3_000 }, (_, i) => ({ id: `n${i}`, match: { path: `/n/${i}` }, action: { type: 'respond' as const, body: `${i}` } }))
    await writeRecord(key, { routes, rotues: [] } as never)
    const total = (await env.CONFIG_KV.get(key))!.length
    const host = isolate(key)
    const hostEnv = { ...env, CONFIG_KV: counting } as Env
    expect((await call(host, '/n/1', {}, hostEnv)).status).toBe(503)
    await host.reload(hostEnv)
    await host.reload(hostEnv)
    expect(bytes[0]).toBe(total)
    expect(bytes.slice(1).every((n) => n < total / 4)).toBe(true)
  })
})
