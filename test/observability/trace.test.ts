/** W3C trace context to origins, ids in the log line, and Server-Timing on and off. */
import { describe, expect, it } from 'vitest'
import { newTag, ORIGIN, routeConfig, sha256Hex, type Echo } from '../support/gateway'
import { metricsGateway } from './helpers'

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/

/** Route `echo` (`/echo/*`, marking its responses `X-Seen`) to the origin, with these metrics options. */
const gateway = (metrics: Record<string, unknown> = {}) =>
  metricsGateway(routeConfig({ id: 'echo', match: { path: '/echo/*' }, policies: [{ type: 'headers', response: { set: { 'X-Seen': 'yes' } } }] }, { gateway: { metrics } }))

async function received(res: Response): Promise<Record<string, string>> {
  expect(res.status).toBe(200)
  return ((await res.json()) as Echo).headers
}

describe('trace context', () => {
  it('creates a valid traceparent when the client sent none, and logs the trace id', async () => {
    const gw = gateway()
    const headers = await received(await gw.fetch('/echo/t'))
    const m = TRACEPARENT.exec(headers.traceparent ?? '')
    expect(m).not.toBeNull()
    expect(m![1]).not.toBe('0'.repeat(32))
    expect(m![3]).toBe('01')
    expect(headers.tracestate).toBeUndefined()
    expect(gw.logs[0]!.traceId).toBe(m![1])
    expect(gw.logs[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/)
    // A second request starts another trace.
    const other = await received(await gw.fetch('/echo/t'))
    expect(TRACEPARENT.exec(other.traceparent!)![1]).not.toBe(m![1])
  })

  it('keeps the caller trace id and flags, with a new span id for the gateway hop, and passes tracestate on', async () => {
    const gw = gateway()
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const headers = await received(await gw.fetch('/echo/t', { headers: { traceparent: parent, tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' } }))
    const m = TRACEPARENT.exec(headers.traceparent!)!
    expect(m[1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(m[2]).not.toBe('00f067aa0ba902b7')
    expect(m[3]).toBe('01')
    expect(headers.tracestate).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')
    expect(gw.logs[0]!.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
  })

  it('an unsampled parent stays unsampled', async () => {
    const headers = await received(await gateway().fetch('/echo/t', { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' } }))
    expect(headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/)
  })

  it.each([
    ['garbage', 'not-a-traceparent'],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['upper case', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
    ['version 00 with extra field', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra'],
    ['huge', `00-${'a'.repeat(4000)}`],
  ])('a malformed traceparent (%s) is replaced and its tracestate dropped', async (_, bad) => {
    const headers = await received(await gateway().fetch('/echo/t', { headers: { traceparent: bad, tracestate: 'congo=t61rcWkgMzE' } }))
    expect(headers.traceparent).toMatch(TRACEPARENT)
    expect(headers.traceparent).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(headers.tracestate).toBeUndefined()
  })

  it('a later version is read by its first four fields', async () => {
    const headers = await received(
      await gateway().fetch('/echo/t', { headers: { traceparent: 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds' } }),
    )
    expect(headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
  })

  it('a malformed tracestate is dropped, the traceparent kept', async () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const headers = await received(await gateway().fetch('/echo/t', { headers: { traceparent: parent, tracestate: 'NOT VALID=\u0001' } }))
    expect(headers.traceparent).toContain('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(headers.tracestate).toBeUndefined()
  })
})

describe('trace context on aggregation calls', () => {
  // Two calls to the echo endpoint; each call's result is the traceparent that call's origin received.
  const aggregateGateway = () =>
    metricsGateway({
      upstreams: { origin: { url: ORIGIN } },
      routes: [
        {
          id: 'agg',
          match: { path: '/agg/:id', methods: ['GET'] },
          action: {
            type: 'aggregate',
            calls: [
              { name: 'first', upstream: 'origin', path: '/echo/first/{params.id}', select: 'headers.traceparent' },
              { name: 'second', upstream: 'origin', path: '/echo/second/{params.id}', select: 'headers.traceparent' },
            ],
          },
        },
      ],
    })

  it('every call carries the caller trace id with a valid span id', async () => {
    const gw = aggregateGateway()
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const res = await gw.fetch('/agg/7', { headers: { traceparent: parent } })
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, string>
    expect(Object.keys(body).sort()).toEqual(['first', 'second'])
    for (const name of ['first', 'second']) {
      const m = TRACEPARENT.exec(body[name] ?? '')
      expect(m, `${name}: ${body[name]}`).not.toBeNull()
      expect(m![1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
      expect(m![2]).not.toBe('0'.repeat(16))
      expect(m![2]).not.toBe('00f067aa0ba902b7')
      expect(m![3]).toBe('01')
    }
    expect(gw.logs[0]!.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
  })

  it('without a traceparent, every call carries the trace the gateway started (the one in the log line)', async () => {
    const gw = aggregateGateway()
    const res = await gw.fetch('/agg/8')
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, string>
    const first = TRACEPARENT.exec(body.first ?? '')
    const second = TRACEPARENT.exec(body.second ?? '')
    expect(first).not.toBeNull()
    expect(second).not.toBeNull()
    expect(first![1]).not.toBe('0'.repeat(32))
    expect(second![1]).toBe(first![1])
    expect(first![2]).not.toBe('0'.repeat(16))
    expect(gw.logs[0]!.traceId).toBe(first![1])
  })
})

describe('Server-Timing', () => {
  it('is present when on: each stage that ran, the upstream and the total', async () => {
    const res = await gateway({ serverTiming: true }).fetch('/echo/t')
    expect(res.headers.get('x-seen')).toBe('yes')
    const value = res.headers.get('server-timing')!
    const names = value.split(', ').map((part) => part.split(';')[0])
    expect(names).toEqual(['request', 'transform', 'upstream', 'total'])
    for (const part of value.split(', ')) expect(part).toMatch(/^[a-z-]+;dur=\d+\.\d$/)
  })

  it('is on error responses too', async () => {
    const res = await gateway({ serverTiming: true }).fetch('/nowhere')
    expect(res.status).toBe(404)
    expect(res.headers.get('server-timing')).toMatch(/^request;dur=[\d.]+, total;dur=[\d.]+$/)
  })

  it('is absent when off', async () => {
    const res = await gateway({ serverTiming: false }).fetch('/echo/t')
    expect(res.status).toBe(200)
    expect(res.headers.get('server-timing')).toBeNull()
  })

  describe('auth, rate-limit and cache stages', () => {
    const KEY = 'timing-key-0123456789'
    async function stagedGateway() {
      return metricsGateway(
        {
          gateway: { metrics: { serverTiming: true } },
          upstreams: { origin: { url: ORIGIN } },
          consumers: { acme: { apiKeySecrets: ['TIMING_KEY_HASH'] } },
          routes: [
            {
              id: 'staged',
              match: { path: '/s/*', methods: ['GET'] },
              policies: [
                { type: 'api-key' },
                { type: 'rate-limit', by: ['consumer'], limits: [{ name: 'two', limit: 2, window: 3600 }] },
                { type: 'cache', scope: 'consumer' },
              ],
              action: { type: 'proxy', upstream: 'origin', stripPrefix: '/s' },
            },
          ],
        },
        { TIMING_KEY_HASH: await sha256Hex(KEY) },
      )
    }
    const stages = (res: Response) => {
      const value = res.headers.get('server-timing') ?? ''
      for (const part of value.split(', ')) expect(part).toMatch(/^[a-z-]+;dur=\d+\.\d$/)
      return value.split(', ').map((part) => part.split(';')[0])
    }

    it('each stage that ran is named: auth, ratelimit and cache; a cache hit has no upstream', async () => {
      const gw = await stagedGateway()
      const headers = { 'x-api-key': KEY, 'x-test-tag': newTag() }
      const miss = await gw.fetch('/s/echo/timing?cc=max-age%3D600', { headers })
      expect(miss.status).toBe(200)
      expect(stages(miss)).toEqual(['request', 'auth', 'ratelimit', 'cache', 'upstream', 'total'])
      const hit = await gw.fetch('/s/echo/timing?cc=max-age%3D600', { headers })
      expect(hit.status).toBe(200)
      expect(hit.headers.get('cache-status')).toContain('hit')
      expect(stages(hit)).toEqual(['request', 'auth', 'ratelimit', 'cache', 'total'])
      // Over the limit: the request stops at the rate-limit stage.
      const limited = await gw.fetch('/s/echo/timing?cc=max-age%3D600', { headers })
      expect(limited.status).toBe(429)
      expect(stages(limited)).toEqual(['request', 'auth', 'ratelimit', 'total'])
    })

    it('a request refused by authentication stops at the auth stage', async () => {
      const gw = await stagedGateway()
      const res = await gw.fetch('/s/echo/timing', { headers: { 'x-api-key': 'wrong-key-0123456789' } })
      expect(res.status).toBe(401)
      expect(stages(res)).toEqual(['request', 'auth', 'total'])
    })
  })
})
