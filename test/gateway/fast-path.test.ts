/**
 * The compiled path (`src/gateway/fast-path.ts`): a matched route is served outside the Hono app,
 * a route with no policies and a plain upstream straight through `PassThroughCall`, any other
 * route through its compiled pipeline on a context made there. What the client, the origin and the
 * log see must be what the Hono app gives the same route. A gateway with a global policy other
 * than `request-id` has no compiled path, so the same routes behind one with a global policy that
 * changes nothing (`headers` with no edits) show what the Hono app does, side by side.
 */
import { describe, expect, it, vi } from 'vitest'
import type { RequestLog } from '../../src/core/logging'
import type { MetricRecord } from '../../src/observability/record'
import type { MetricsSink } from '../../src/observability/sink'
import { manualRuntime } from '../support/runtime'
import { newTag, ORIGIN, sha256Hex, testGateway, type Echo } from '../support/gateway'

const NO_OP = { type: 'headers' } as const

/**
 * `/fast/*` (no policies) and `/piped/*` (a policy that changes nothing) on a gateway with the
 * compiled path; `/slow/*`, the same route as `/piped/*`, on one whose global no-op keeps it on the
 * Hono app. One log for both, in the order its lines were written.
 */
function twinGateway(upstream: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, options: Parameters<typeof testGateway>[2] & { env?: Record<string, unknown> } = {}) {
  const logs: RequestLog[] = []
  const writeLog = (line: RequestLog) => void logs.push(line)
  const config = (policies: unknown[]) => ({
    upstreams: { origin: { url: ORIGIN, ...upstream } },
    policies,
    routes: [
      { id: 'fast', match: { path: '/fast/*' }, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/fast' } },
      { id: 'piped', match: { path: '/piped/*' }, policies: [NO_OP], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/piped' } },
      { id: 'slow', match: { path: '/slow/*' }, policies: [NO_OP], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/slow' } },
    ],
    ...extra,
  })
  const { env = {}, ...rest } = options
  const compiled = testGateway(config([{ type: 'request-id' }]) as never, env, { ...rest, writeLog })
  const hono = testGateway(config([{ type: 'request-id' }, NO_OP]) as never, env, { ...rest, writeLog })
  return {
    logs,
    fetch: (path: string, init?: RequestInit) => (path.startsWith('/slow/') ? hono : compiled).fetch(path, init),
  }
}

/** A log line without what differs per request and route (ids, times, route, path): its fields, their order and the rest. */
function shapeOf(line: RequestLog | undefined) {
  const { requestId, traceId, spanId, durationMs, routeId, path, upstream, ...rest } = line ?? ({} as RequestLog)
  const { durationMs: upstreamMs, ...upstreamRest } = upstream ?? { name: '' }
  return { ...rest, keys: Object.keys(line ?? {}), upstream: upstreamRest, types: [requestId, traceId, spanId, durationMs, routeId, path, upstreamMs].map((v) => typeof v) }
}

describe('compiled pass-through', () => {
  it('sends the origin the same request as the Hono path: forwarding headers, ids, trace context, no hop-by-hop', async () => {
    const gw = twinGateway()
    const init = {
      headers: {
        'x-test-tag': newTag(),
        'cf-connecting-ip': '203.0.113.9',
        'x-forwarded-for': '10.0.0.1',
        forwarded: 'for=10.0.0.1',
        connection: 'x-private',
        'x-private': 'drop me',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'vendor=1',
      },
    }
    const seen = await Promise.all(['/fast/echo/a?q=1', '/piped/echo/a?q=1', '/slow/echo/a?q=1'].map(async (path) => (await (await gw.fetch(path, init)).json()) as Echo))
    const [fast, piped, slow] = seen.map((echo) => {
      const { 'x-request-id': id, traceparent, ...headers } = echo.headers
      return { url: echo.url, headers, id: typeof id, trace: traceparent?.slice(0, 35) }
    })
    expect(fast).toEqual(slow)
    expect(piped).toEqual(slow)
    expect(fast!.headers['x-forwarded-for']).toBe('203.0.113.9')
    expect(fast!.headers).not.toHaveProperty('forwarded')
    expect(fast!.headers).not.toHaveProperty('x-private')
    expect(fast!.trace).toBe('00-0af7651916cd43dd8448eb211c80319c')
  })

  it('answers and logs like the Hono path: response headers, request id, the log line', async () => {
    const gw = twinGateway()
    const fast = await gw.fetch('/fast/echo/b?x=1&x=2&y', { headers: { 'x-test-tag': newTag() } })
    const slow = await gw.fetch('/slow/echo/b?x=1&x=2&y', { headers: { 'x-test-tag': newTag() } })
    const piped = await gw.fetch('/piped/echo/b?x=1&x=2&y', { headers: { 'x-test-tag': newTag() } })
    await Promise.all([fast.arrayBuffer(), slow.arrayBuffer(), piped.arrayBuffer()])
    const headerNames = (res: Response) => [...res.headers.keys()].filter((name) => name !== 'date').sort()
    expect(headerNames(fast)).toEqual(headerNames(slow))
    expect(headerNames(piped)).toEqual(headerNames(slow))
    expect(fast.headers.get('x-request-id')).toBe(gw.logs[0]?.requestId)
    expect(piped.headers.get('x-request-id')).toBe(gw.logs[2]?.requestId)
    expect(gw.logs.map((line) => line.routeId)).toEqual(['fast', 'slow', 'piped'])
    expect(shapeOf(gw.logs[0])).toEqual(shapeOf(gw.logs[1]))
    expect(shapeOf(gw.logs[2])).toEqual(shapeOf(gw.logs[1]))
    expect(gw.logs[0]).toMatchObject({ method: 'GET', path: '/fast/echo/b', queryKeys: ['x', 'y'], status: 200, upstream: { name: 'origin', tries: 1, status: 200 } })
  })

  it('renders upstream failures as the Hono path does: 502 problem+json, logged', async () => {
    const gw = twinGateway({ url: 'http://127.0.0.1:1' })
    const [fast, piped, slow] = await Promise.all(['/fast/x', '/piped/x', '/slow/x'].map((path) => gw.fetch(path)))
    expect(fast!.status).toBe(502)
    expect(piped!.status).toBe(502)
    expect(fast!.headers.get('content-type')).toBe('application/problem+json')
    const [a, p, b] = (await Promise.all([fast!.json(), piped!.json(), slow!.json()])) as { code: string; instance: string }[]
    expect(a!.code).toBe(b!.code)
    expect(p!.code).toBe(b!.code)
    expect(a!.instance).toBe(fast!.headers.get('x-request-id'))
    expect(p!.instance).toBe(piped!.headers.get('x-request-id'))
    const byRoute = Object.fromEntries(gw.logs.map((line) => [line.routeId, line]))
    expect(shapeOf(byRoute.fast)).toEqual(shapeOf(byRoute.slow))
    expect(shapeOf(byRoute.piped)).toEqual(shapeOf(byRoute.slow))
  })

  it("times out on the header timer of the gateway's runtime: 504, logged as a timeout", async () => {
    const runtime = manualRuntime()
    const gw = testGateway({ upstreams: { origin: { url: ORIGIN, timeouts: { headers: 1_000 } } }, routes: [{ id: 'fast', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } }] }, {}, { runtime })
    const pending = gw.fetch('/hang', { headers: { 'x-test-tag': newTag() } })
    await runtime.until(() => runtime.pendingTimers() === 1)
    await runtime.advance(1_000)
    const res = await pending
    expect(res.status).toBe(504)
    expect(gw.logs.at(-1)?.upstream?.error).toBe('timeout')
  })

  it('cuts a small body that stalls past the idle timeout when the header timeout is the shorter (one timer, re-armed once)', async () => {
    // headers 200 ms < idle 400 ms: the header timer, still armed while the body is read, fires
    // first and waits for the rest of the idle time before the stall is a 504.
    const gw = twinGateway({ timeouts: { headers: 200, idle: 400 } })
    const res = await gw.fetch('/fast/stream?chunks=3&interval=5&stall=1&length=1')
    expect(res.status).toBe(504)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_UPSTREAM_TIMEOUT')
    expect(gw.logs.at(-1)?.upstream?.error).toBe('idle-timeout')
    // A body that completes within the idle time but after the header timeout is whole.
    const slowBody = await gw.fetch('/fast/stream?chunks=3&interval=120&length=1')
    expect(slowBody.status).toBe(200)
    expect(await slowBody.text()).toBe('chunk-0\nchunk-1\nchunk-2\n')
    // The same for a route with policies, whose plain proxying takes the same call.
    const piped = await gw.fetch('/piped/stream?chunks=3&interval=5&stall=1&length=1')
    expect(piped.status).toBe(504)
    expect(gw.logs.at(-1)).toMatchObject({ routeId: 'piped', status: 504, upstream: { error: 'idle-timeout' } })
  })

  it("runs a route's pipeline as the Hono app does: the policy's refusal, the consumer in the log and the metrics record", async () => {
    const records: MetricRecord[] = []
    const sink: MetricsSink = { name: 'recording', write: (record) => void records.push(record) }
    const env = { ADA_KEY: await sha256Hex('ada-key-0123456789') }
    const gw = twinGateway(
      {},
      {
        consumers: { ada: { apiKeySecrets: ['ADA_KEY'] } },
        routes: ['piped', 'slow'].map((id) => ({
          id,
          match: { path: `/${id}/*` },
          policies: [{ type: 'api-key' }, { type: 'headers', response: { set: { 'x-who': '{consumer.id}' } } }],
          action: { type: 'proxy', upstream: 'origin', stripPrefix: `/${id}` },
        })),
      },
      { metricsSinks: [sink], env },
    )
    const key = { headers: { 'x-api-key': 'ada-key-0123456789', 'x-test-tag': newTag() } }
    const answers = []
    for (const path of ['/piped/echo/k', '/slow/echo/k', '/piped/echo/k', '/slow/echo/k']) {
      const res = await gw.fetch(path, answers.length < 2 ? { headers: { 'x-test-tag': newTag() } } : key)
      answers.push({ status: res.status, type: res.headers.get('content-type'), who: res.headers.get('x-who'), auth: res.headers.get('www-authenticate'), id: typeof res.headers.get('x-request-id') })
      await res.arrayBuffer()
    }
    expect(answers[0]).toEqual(answers[1])
    expect(answers[0]).toMatchObject({ status: 401, type: 'application/problem+json' })
    expect(answers[2]).toEqual(answers[3])
    expect(answers[2]).toMatchObject({ status: 200, who: 'ada' })
    expect(gw.logs.map((line) => [line.routeId, line.status])).toEqual([['piped', 401], ['slow', 401], ['piped', 200], ['slow', 200]])
    expect(shapeOf(gw.logs[0])).toEqual(shapeOf(gw.logs[1]))
    expect(shapeOf(gw.logs[2])).toEqual(shapeOf(gw.logs[3]))
    await vi.waitFor(() => expect(records).toHaveLength(4))
    const shape = ({ at, durationMs, upstreamMs, route, ...rest }: MetricRecord) => ({ ...rest, types: [at, durationMs, upstreamMs].map((v) => typeof v) })
    expect(shape(records[2]!)).toEqual(shape(records[3]!))
    expect(records[2]).toMatchObject({ route: 'piped', consumer: 'ada', status: 200 })
  })

  it('records metrics as the Hono path does: Server-Timing, and the same record handed to the sinks', async () => {
    const records: MetricRecord[] = []
    const sink: MetricsSink = { name: 'recording', write: (record) => void records.push(record) }
    const gw = testGateway(
      {
        gateway: { metrics: { serverTiming: true } },
        upstreams: { origin: { url: ORIGIN } },
        routes: [
          { id: 'fast', match: { path: '/fast/*' }, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/fast' } },
          { id: 'slow', match: { path: '/slow/*' }, policies: [NO_OP], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/slow' } },
        ],
      },
      {},
      { metricsSinks: [sink] },
    )
    const fast = await gw.fetch('/fast/echo/m', { headers: { 'x-test-tag': newTag() } })
    const slow = await gw.fetch('/slow/echo/m', { headers: { 'x-test-tag': newTag() } })
    expect(fast.headers.get('server-timing')).toMatch(/^request;dur=[\d.]+, upstream;dur=[\d.]+, total;dur=[\d.]+$/)
    expect(slow.headers.get('server-timing')).toMatch(/^request;dur=[\d.]+, transform;dur=[\d.]+, upstream;dur=[\d.]+, total;dur=[\d.]+$/)
    const shape = ({ at, durationMs, upstreamMs, route, ...rest }: MetricRecord) => ({ ...rest, types: [at, durationMs, upstreamMs].map((v) => typeof v) })
    expect(records.map((record) => record.route)).toEqual(['fast', 'slow'])
    expect(shape(records[0]!)).toEqual(shape(records[1]!))
  })

  it('leaves HEAD, unknown paths and bad paths to the Hono path', async () => {
    const gw = twinGateway({}, { routes: [{ id: 'fast', match: { path: '/fast/*', methods: ['GET'] }, action: { type: 'proxy', upstream: 'origin' } }] })
    expect((await gw.fetch('/fast/echo/h', { method: 'HEAD' })).status).toBe(200)
    expect((await gw.fetch('/nowhere')).status).toBe(404)
    expect((await gw.fetch('/fast/echo/x', { method: 'POST' })).status).toBe(405)
    expect((await gw.fetch('/fast/a;b')).status).toBe(400)
    expect(gw.logs.map((line) => line.status)).toEqual([200, 404, 405, 400])
  })
})
