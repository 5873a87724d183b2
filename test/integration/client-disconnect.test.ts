/**
 * A client that goes away mid-request (cancelled through the worker's fetch handler, as workerd
 * cancels it when the connection drops): what the request held is given back (the breaker's
 * half-open probe slot, the balancer's in-flight count), and the request still gets its log line
 * (status 499) and its metrics.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { MetricRecord } from '../../src/observability/record'
import { newTag, ORIGIN, originLog, originStats } from '../support/gateway'
import { servedGateway, type ServedGateway } from '../support/served'
import { pollUntil, stoppedClock, waitFor } from '../support/runtime'

/** Sends `path`, waits until the origin holds it, then cancels it as a client that left. */
async function cancelMidRequest(gw: ServedGateway, path: string, tag: string) {
  const client = new AbortController()
  const answer = gw.fetch(path, { headers: { 'x-test-tag': tag }, signal: client.signal }).catch((err: unknown) => err)
  await pollUntil(() => originStats(tag), (s) => s.inFlight >= 1)
  const lines = gw.logs.length
  client.abort()
  expect(await answer).toBeInstanceOf(Error)
  await waitFor(() => gw.logs.length > lines)
  return gw.logs.at(-1)!
}

const breakerConfig = (route: Record<string, unknown> = {}): GatewayConfigInput => ({
  upstreams: { origin: { targets: [{ url: ORIGIN }], circuitBreaker: { failures: 1, openMs: 1_000, halfOpenRequests: 1 } } },
  routes: [{ id: 'r', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' }, ...route }],
})

describe('client disconnect', () => {
  it('gives back the half-open probe slot: the breaker admits the next probe', async () => {
    const clock = stoppedClock()
    const seen: MetricRecord[] = []
    const gw = servedGateway(
      { ...breakerConfig(), gateway: { metrics: { serverTiming: false } } },
      { runtime: clock, metricsSinks: [{ name: 'records', write: (r) => void seen.push(r) }] },
    )
    const tag = newTag()
    expect((await gw.fetch('/status/500', { headers: { 'x-test-tag': tag } })).status).toBe(500)
    clock.move(1_000) // open -> half-open: one probe may go
    const line = await cancelMidRequest(gw, '/hang', tag)
    expect(line).toMatchObject({ status: 499, error: 'ERR_CLIENT_CLOSED', path: '/hang' })
    await waitFor(() => seen.some((r) => r.status === 499))
    expect(seen.find((r) => r.status === 499)).toMatchObject({ route: 'r', error: 'ERR_CLIENT_CLOSED' })
    // The slot the cancelled probe held is free: the next request is let through as the probe.
    const probe = await gw.fetch('/echo/probe', { headers: { 'x-test-tag': tag } })
    expect(probe.status).toBe(200)
    expect((await originLog(tag)).map((r) => r.url)).toContain('/echo/probe')
  })

  it('gives back the balancer\'s in-flight count: least-requests keeps using the target the cancelled request was on', async () => {
    const second = ORIGIN.replace('127.0.0.1', 'localhost')
    const gw = servedGateway({
      upstreams: { pool: { targets: [{ url: ORIGIN }, { url: second }], balance: 'least-requests' } },
      routes: [{ id: 'r', match: { path: '/*' }, action: { type: 'proxy', upstream: 'pool' } }],
    })
    const tag = newTag()
    const line = await cancelMidRequest(gw, '/hang', tag)
    expect(line.status).toBe(499)
    const hosts = new Set<string>()
    for (let i = 0; i < 4; i++) {
      const res = await gw.fetch('/echo/after', { headers: { 'x-test-tag': tag } })
      hosts.add(new URL((await res.json<{ headers: Record<string, string> }>()).headers.host!.includes('localhost') ? second : ORIGIN).host)
    }
    // Both targets at 0 in flight take turns; a leaked count would send every request to one.
    expect(hosts.size).toBe(2)
  })

  it('a route with policies aborts its upstream call through the request\'s one listener: the origin sees it go, the line is 499', async () => {
    const gw = servedGateway({
      upstreams: { origin: { url: ORIGIN } },
      routes: [{ id: 'r', match: { path: '/*' }, policies: [{ type: 'headers', request: { set: { 'x-hop': '1' } } }], action: { type: 'proxy', upstream: 'origin' } }],
    })
    const tag = newTag()
    const line = await cancelMidRequest(gw, '/hang', tag)
    expect(line).toMatchObject({ status: 499, error: 'ERR_CLIENT_CLOSED', routeId: 'r', upstream: { name: 'origin', error: 'aborted' } })
    await pollUntil(() => originStats(tag), (s) => s.inFlight === 0)
  })

  it('an aggregation gives back its call\'s probe slot too', async () => {
    const clock = stoppedClock()
    const aggregate = { id: 'agg', match: { path: '/agg' }, action: { type: 'aggregate' as const, forwardHeaders: ['x-test-tag'], calls: [{ name: 'slow', upstream: 'origin', path: '/hang' }] } }
    const config = breakerConfig()
    const gw = servedGateway({ ...config, routes: [aggregate, ...config.routes] }, { runtime: clock })
    const tag = newTag()
    expect((await gw.fetch('/status/500', { headers: { 'x-test-tag': tag } })).status).toBe(500)
    clock.move(1_000)
    const line = await cancelMidRequest(gw, '/agg', tag)
    expect(line).toMatchObject({ status: 499, error: 'ERR_CLIENT_CLOSED', routeId: 'agg' })
    expect((await gw.fetch('/echo/probe', { headers: { 'x-test-tag': tag } })).status).toBe(200)
  })
})
