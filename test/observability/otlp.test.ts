/**
 * `gateway.telemetry.otlp`: spans exported as OTLP/HTTP JSON to the collector stand-in
 * (test/node/collector.ts, which checks every export's shape), on the trace ids the gateway
 * propagates; a collector that is down or hangs costs dropped (and counted) spans, never a response.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { Env } from '../../src/core/env'
import { createGateway } from '../../src/gateway/create-gateway'
import { otlpStats } from '../../src/observability/telemetry'
import { unixNanos } from '../../src/observability/otlp'
import { newTag, originLog, parsedGateway, routeConfig, sha256Hex, type Echo } from '../support/gateway'
import { manualRuntime, pollUntil, sequence } from '../support/runtime'
import { aggregateConfig, jsonCall } from '../aggregate/helpers'
import { ADMIN } from './helpers'

type Attribute = { key: string; value: Record<string, unknown> }
type ReceivedSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes: Attribute[]; status: { code: number; message?: string }; resource: { attributes: Attribute[] } }
type Received = { exports: number; hung: number; spans: ReceivedSpan[]; problems: string[]; headers: Record<string, string> }

const COLLECTOR = env.COLLECTOR_URL
const KEY = 'acme-otlp-key-0123456789'
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CLIENT_SPAN = '00f067aa0ba902b7'

const endpoint = (tenant: string) => `${COLLECTOR}/t/${tenant}/v1/traces`
const received = async (tenant: string): Promise<Received> => (await fetch(`${COLLECTOR}/t/${tenant}/_control/received`)).json()
const setMode = (tenant: string, mode: string) => fetch(`${COLLECTOR}/t/${tenant}/_control/mode`, { method: 'PUT', body: JSON.stringify({ mode }) })
/** Waits (bounded) until the collector holds at least `count` spans for the tenant. */
const spansAt = async (tenant: string, count: number) => (await pollUntil(() => received(tenant), (r) => r.spans.length >= count || r.problems.length > 0)).spans

/** An attribute's value as JSON gives it (`intValue` as a string). */
function attr(span: ReceivedSpan, key: string): unknown {
  const value = span.attributes.find((a) => a.key === key)?.value
  return value && Object.values(value)[0]
}

/** A route `/t/*` to the origin behind api-key, rate-limit and cache, exporting to `tenant`. */
function tracedConfig(tenant: string, otlp: Record<string, unknown> = {}): GatewayConfigInput {
  return routeConfig(
    {
      id: 'traced',
      match: { path: '/t/*' },
      policies: [
        { type: 'api-key' },
        { type: 'rate-limit', by: ['consumer'], limits: [{ name: 'm', limit: 1000, window: 60 }] },
        { type: 'cache', defaultTtl: 60 },
      ] as never,
    },
    { gateway: { telemetry: { otlp: { endpoint: endpoint(tenant), batchSpans: 1, ...otlp } } }, consumers: { acme: { apiKeySecrets: ['ACME_KEY_HASH'] } } },
  )
}

async function tracedGateway(tenant: string, otlp: Record<string, unknown> = {}, options: Parameters<typeof parsedGateway>[2] = {}) {
  const config = loadConfig(tracedConfig(tenant, otlp))
  const gw = parsedGateway(config, { ACME_KEY_HASH: await sha256Hex(KEY), OTLP_TOKEN: 'token-from-a-secret' }, options)
  return { gw, config, stats: () => otlpStats(config.gateway.telemetry.otlp!)! }
}

const clientHeaders = (tag: string, sampled = '01') => ({ 'x-api-key': KEY, 'x-test-tag': tag, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-${sampled}` })

describe('OTLP export', () => {
  it('exports a server span and children for auth, rate limit, cache and the upstream try, on the propagated trace', async () => {
    const tenant = newTag()
    const tag = newTag()
    const { gw } = await tracedGateway(tenant, { headers: { 'X-Collector-Token': 'OTLP_TOKEN' } })
    const res = await gw.fetch('/t/users/7?secret=hunter2', { headers: clientHeaders(tag) })
    expect(res.status).toBe(200)
    const spans = await spansAt(tenant, 6)
    expect((await received(tenant)).problems).toEqual([])
    expect(spans.every((s) => s.traceId === CLIENT_TRACE)).toBe(true)

    const server = spans.find((s) => s.kind === 2)!
    expect(server).toMatchObject({ name: 'GET /t/*', parentSpanId: CLIENT_SPAN, spanId: gw.logs[0]!.spanId, status: { code: 0 } })
    expect(attr(server, 'http.request.method')).toBe('GET')
    expect(attr(server, 'http.route')).toBe('/t/*')
    expect(attr(server, 'http.response.status_code')).toBe('200')
    expect(attr(server, 'url.path')).toBe('/t/users/7')
    expect(server.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'edgeway' } })

    const children = spans.filter((s) => s.parentSpanId === server.spanId).map((s) => s.name)
    expect(children).toEqual(expect.arrayContaining(['edgeway.auth', 'edgeway.rate-limit', 'edgeway.cache', 'GET']))
    const upstreamTry = spans.find((s) => s.kind === 3)!
    expect(attr(upstreamTry, 'server.address')).toBe('127.0.0.1')
    expect(attr(upstreamTry, 'url.path')).toBe('/t/users/7')
    expect(attr(upstreamTry, 'http.response.status_code')).toBe('200')
    // The origin's parent is the try's span: its own span would nest under it.
    const [seen] = await originLog(tag)
    expect(seen!.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${upstreamTry.spanId}-01`)
    // No query value anywhere; the header value came from the named secret.
    expect(JSON.stringify(spans)).not.toContain('hunter2')
    expect((await received(tenant)).headers['x-collector-token']).toBe('token-from-a-secret')
  })

  it("marks a policy's refusal on its span and the server span's status", async () => {
    const tenant = newTag()
    const { gw } = await tracedGateway(tenant)
    const res = await gw.fetch('/t/x', { headers: { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` } })
    expect(res.status).toBe(401)
    const spans = await spansAt(tenant, 2)
    const auth = spans.find((s) => s.name === 'edgeway.auth')!
    expect(auth.status).toEqual({ code: 2, message: 'ERR_UNAUTHORIZED' })
    expect(spans.find((s) => s.kind === 2)!.status.code).toBe(0)
    expect(spans.some((s) => s.kind === 3)).toBe(false)
  })

  it('gives each aggregation call a span, with its tries under it', async () => {
    const tenant = newTag()
    const config = aggregateConfig([jsonCall('a', { a: 1 }), jsonCall('b', { b: 2 })])
    const gw = parsedGateway(loadConfig({ ...config, gateway: { telemetry: { otlp: { endpoint: endpoint(tenant), batchSpans: 1 } } } }))
    expect((await gw.fetch('/agg/1', { headers: { 'x-test-tag': newTag() } })).status).toBe(200)
    const spans = await spansAt(tenant, 5)
    const server = spans.find((s) => s.kind === 2)!
    for (const name of ['a', 'b']) {
      const call = spans.find((s) => s.name === `edgeway.call ${name}`)!
      expect(call.parentSpanId).toBe(server.spanId)
      expect(attr(call, 'edgeway.outcome')).toBe('ok')
      const tries = spans.filter((s) => s.parentSpanId === call.spanId)
      expect(tries.map((s) => [s.kind, attr(s, 'url.path'), attr(s, 'edgeway.upstream')])).toEqual([[3, '/json', 'origin']])
    }
  })

  it('gives each retry its own client span; a failed try says why', async () => {
    const tenant = newTag()
    const config = loadConfig({
      gateway: { telemetry: { otlp: { endpoint: endpoint(tenant), batchSpans: 1 } } },
      upstreams: { pool: { targets: [{ url: 'http://127.0.0.1:1' }, { url: env.ORIGIN_URL }], balance: 'round-robin', retries: { attempts: 1, backoff: { base: 1, max: 1 } } } },
      routes: [{ id: 'p', match: { path: '/*' }, action: { type: 'proxy', upstream: 'pool' } }],
    } as never)
    const gw = parsedGateway(config)
    for (let i = 0; i < 2; i++) expect((await gw.fetch('/echo', { headers: { 'x-test-tag': newTag() } })).status).toBe(200)
    const spans = await spansAt(tenant, 5)
    const tries = spans.filter((s) => s.kind === 3)
    expect(tries.map((s) => attr(s, 'error.type') ?? attr(s, 'http.response.status_code')).sort()).toEqual(['200', '200', 'unreachable'])
    expect(tries.find((s) => attr(s, 'error.type'))!.status.code).toBe(2)
  })

  it('a collector that is down: the response is unchanged, and its spans are dropped and counted', async () => {
    const tag = newTag()
    const config = loadConfig(tracedConfig('unused', { endpoint: 'http://127.0.0.1:1/v1/traces' }))
    const gw = parsedGateway(config, { ACME_KEY_HASH: await sha256Hex(KEY) })
    const res = await gw.fetch('/t/echo', { headers: clientHeaders(tag) })
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).path).toBe('/t/echo')
    const stats = otlpStats(config.gateway.telemetry.otlp!)!
    // Six spans (server, the request phase, auth, rate limit, cache, the try), one export each.
    await pollUntil(async () => stats.dropped, (n) => n >= 6)
    expect(stats).toMatchObject({ exported: 0, dropped: 6, failedExports: 6 })
  })

  it('a collector that hangs never holds a response; after timeoutMs the batch is dropped and counted', async () => {
    const tenant = newTag()
    await setMode(tenant, 'hang')
    const runtime = manualRuntime()
    // One request's six spans make a batch: the export starts at once, and hangs.
    const config = loadConfig(tracedConfig(tenant, { batchSpans: 6, timeoutMs: 2000 }))
    const gwEnv = { ...env, ACME_KEY_HASH: await sha256Hex(KEY) } as unknown as Env
    const app = createGateway(config, gwEnv, { runtime, writeLog: () => {} })
    const ctx = createExecutionContext()
    const res = await app.fetch(new Request('http://gateway.test/t/echo', { headers: clientHeaders(newTag()) }), gwEnv, ctx)
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).path).toBe('/t/echo')
    const stats = otlpStats(config.gateway.telemetry.otlp!)!
    // The export is at the collector (its timeout timer set before it left), unanswered.
    await pollUntil(() => received(tenant), (r) => r.hung > 0)
    expect(stats).toMatchObject({ exported: 0, dropped: 0 })
    await runtime.advance(2000)
    await waitOnExecutionContext(ctx)
    expect(stats).toMatchObject({ exported: 0, dropped: 6, failedExports: 1 })
  })

  it('holds at most queueSpans: more are dropped and counted; the rest go in one export after flushMs', async () => {
    const tenant = newTag()
    const runtime = manualRuntime()
    const { gw, stats } = await tracedGateway(tenant, { queueSpans: 7, batchSpans: 1000, flushMs: 500 }, { runtime })
    const first = gw.fetch('/t/a', { headers: clientHeaders(newTag()) })
    const second = gw.fetch('/t/b', { headers: clientHeaders(newTag()) })
    await runtime.until(() => stats().dropped > 0)
    expect(stats().dropped).toBe(5)
    await runtime.advance(500)
    await Promise.all([first, second])
    const got = await received(tenant)
    expect(got).toMatchObject({ exports: 1, problems: [] })
    expect(got.spans).toHaveLength(7)
    expect(stats()).toMatchObject({ exported: 7, dropped: 5 })
  })

  it('counts spans the collector rejects in a partial success', async () => {
    const tenant = newTag()
    await setMode(tenant, 'partial')
    const { gw, stats } = await tracedGateway(tenant, { batchSpans: 6 })
    expect((await gw.fetch('/t/p', { headers: clientHeaders(newTag()) })).status).toBe(200)
    await pollUntil(async () => stats().exported, (n) => n > 0)
    expect(stats()).toMatchObject({ exported: 5, dropped: 1 })
  })

  it("samples by the caller's flag, and traces the gateway starts at sampleRate, drawn from the runtime", async () => {
    const tenant = newTag()
    const runtime = manualRuntime()
    // A route with no policy and one target: the sampler is the only one drawing.
    runtime.setRandom(sequence([0.3, 0.7]))
    const gw = parsedGateway(loadConfig(routeConfig({}, { gateway: { telemetry: { otlp: { endpoint: endpoint(tenant), sampleRate: 0.5, batchSpans: 1 } } } })), {}, { runtime })
    const tags: Record<string, string> = {}
    const cases = [['/a', '00'], ['/b', '01'], ['/c', undefined], ['/d', undefined]] as const
    for (const [path, flag] of cases) {
      tags[path] = newTag()
      const traceparent = flag && { traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-${flag}` }
      expect((await gw.fetch(path, { headers: { 'x-test-tag': tags[path]!, ...traceparent } })).status).toBe(200)
    }
    const spans = await spansAt(tenant, 6)
    // /a: the caller did not sample; /b: it did (no draw); /c drew 0.3 (< 0.5); /d drew 0.7.
    expect(spans.filter((s) => s.kind === 2).map((s) => attr(s, 'url.path'))).toEqual(['/b', '/c'])
    const flagSeen = async (path: string) => (await originLog(tags[path]!))[0]!.headers.traceparent!.slice(-2)
    expect([await flagSeen('/a'), await flagSeen('/b'), await flagSeen('/c'), await flagSeen('/d')]).toEqual(['00', '01', '01', '00'])
  })

  it("an upstream's 5xx marks the try and the server span as errors; admin requests are not traced", async () => {
    const tenant = newTag()
    const gw = parsedGateway(loadConfig(routeConfig({}, { gateway: { telemetry: { otlp: { endpoint: endpoint(tenant), batchSpans: 1 } } } })))
    expect((await gw.fetch('/_edgeway/config', { headers: ADMIN })).status).toBe(200)
    expect((await gw.fetch('/status/503', { headers: { 'x-test-tag': newTag() } })).status).toBe(503)
    const spans = await spansAt(tenant, 3)
    expect(spans.map((s) => attr(s, 'url.path'))).not.toContain('/_edgeway/config')
    const server = spans.find((s) => s.kind === 2)!
    const upstreamTry = spans.find((s) => s.kind === 3)!
    expect([server.status.code, attr(server, 'http.response.status_code'), attr(server, 'error.type')]).toEqual([2, '503', '503'])
    expect([upstreamTry.status.code, attr(upstreamTry, 'http.response.status_code'), attr(upstreamTry, 'error.type')]).toEqual([2, '503', '503'])
  })

  it('times are exact nanoseconds past 2^53', () => {
    expect(unixNanos(1_733_356_800_123)).toBe('1733356800123000000')
    expect(unixNanos(1_733_356_800_123.25)).toBe('1733356800123250000')
  })

  it('off: no spans, and the origin sees the gateway hop itself as its parent', async () => {
    const tag = newTag()
    const config = loadConfig(routeConfig({}, {}))
    expect(config.gateway.telemetry).toEqual({})
    const gw = parsedGateway(config)
    await gw.fetch('/echo', { headers: { 'x-test-tag': tag } })
    const [seen] = await originLog(tag)
    expect(seen!.headers.traceparent).toBe(`00-${gw.logs[0]!.traceId}-${gw.logs[0]!.spanId}-01`)
  })

  it('a header secret that is not set fails the config, naming the field', async () => {
    const config = loadConfig(tracedConfig('x', { headers: { Authorization: 'NO_SUCH_SECRET' } }))
    expect(() => createGateway(config, env as unknown as Env)).toThrow('gateway.telemetry.otlp.headers.Authorization: no Worker secret or variable "NO_SUCH_SECRET"')
  })
})
