/**
 * Aggregation end to end against the real test origin: parallel calls, chains, diamonds, array
 * paths, templated POST bodies, header propagation, and the in-flight cap.
 */
import { describe, expect, it } from 'vitest'
import { newTag, originLog, originStats } from '../support/gateway'
import { aggregate, jsonCall, type CallInput, type Echo } from './helpers'

const A_BODY = { id: 7, name: 'ada', items: [{ id: 'x1' }, { id: 'x2' }] }

describe('aggregate: scheduling', () => {
  it('runs independent calls in parallel (the origin answers only once all three arrived)', async () => {
    const tag = newTag()
    const barrier = (name: string): CallInput => ({ name, upstream: 'origin', path: '/barrier/three', query: { count: '3' }, timeout: 5000, group: name })
    const { res, body } = await aggregate(tag, [barrier('a'), barrier('b'), barrier('c')])
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    expect(body).toEqual({
      a: { barrier: 'three', released: 3 },
      b: { barrier: 'three', released: 3 },
      c: { barrier: 'three', released: 3 },
    })
  })

  it('starts a call the moment its own inputs are ready, not once its whole level is done', async () => {
    const tag = newTag()
    // "slow" waits at a barrier only "late" (which reads "fast") can release. A scheduler that runs
    // level by level waits for "slow" before it starts "late": "slow" times out and the request fails.
    const { res, body } = await aggregate(tag, [
      { name: 'slow', upstream: 'origin', path: '/barrier/meet', query: { count: '2' }, timeout: 5000, group: 'slow' },
      jsonCall('fast', { at: 'meet' }, { output: false }),
      { name: 'late', upstream: 'origin', path: '/barrier/{fast.body.at}', query: { count: '2' }, timeout: 5000, group: 'late' },
    ])
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    expect(body).toEqual({ slow: { barrier: 'meet', released: 2 }, late: { barrier: 'meet', released: 2 } })
    expect(await originStats(tag)).toMatchObject({ maxInFlight: 2, count: 3 })
  })

  it('starts B only once A has answered, with a field of A in its path', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [
      jsonCall('a', A_BODY, { group: 'a' }),
      { name: 'b', upstream: 'origin', path: '/echo/b/{a.body.id}', group: 'b' },
    ])
    expect(res.status).toBe(200)
    expect((body.b as Echo).path).toBe('/echo/b/7')
    const log = await originLog(tag)
    expect(log.map((r) => new URL(r.url, 'http://o').pathname)).toEqual(['/json', '/echo/b/7'])
  })

  it('runs C after both A and B, with fields of each', async () => {
    const tag = newTag()
    const { body } = await aggregate(tag, [
      jsonCall('a', { id: 1 }, { output: false }),
      jsonCall('b', { id: 2 }, { output: false }),
      { name: 'c', upstream: 'origin', path: '/echo/c/{a.body.id}/{b.body.id}', group: 'c' },
    ])
    expect(body).toEqual({ c: expect.objectContaining({ path: '/echo/c/1/2' }) })
  })

  it('runs a diamond A -> (B, C) -> D', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [
      { name: 'd', upstream: 'origin', path: '/echo/d', query: { b: '{b.body.query.from}', c: '{c.body.query.from}' }, group: 'd' },
      { name: 'b', upstream: 'origin', path: '/echo/b', query: { from: 'b-{a.body.id}' }, output: false },
      { name: 'c', upstream: 'origin', path: '/echo/c', query: { from: 'c-{a.body.id}' }, output: false },
      jsonCall('a', { id: 9 }, { output: false }),
    ])
    expect(res.status).toBe(200)
    expect((body.d as Echo).query).toEqual({ b: 'b-9', c: 'c-9' })
    const paths = (await originLog(tag)).map((r) => new URL(r.url, 'http://o').pathname)
    expect(paths[0]).toBe('/json')
    expect(paths.at(-1)).toBe('/echo/d')
    expect(paths).toHaveLength(4)
  })

  it('reads array paths: an index and every element', async () => {
    const tag = newTag()
    const { body } = await aggregate(tag, [
      jsonCall('a', A_BODY, { output: false }),
      { name: 'b', upstream: 'origin', path: '/echo/item/{a.body.items[0].id}', query: { all: '{a.body.items[].id}', last: '{a.body.items[-1].id}' }, group: 'b' },
    ])
    expect(body.b.path).toBe('/echo/item/x1')
    expect(body.b.query).toEqual({ all: 'x1,x2', last: 'x2' })
  })

  it('builds a POST body from an earlier result, keeping whole values and types', async () => {
    const tag = newTag()
    const { body } = await aggregate(tag, [
      jsonCall('a', A_BODY, { output: false }),
      {
        name: 'b',
        upstream: 'origin',
        method: 'POST',
        path: '/echo/post',
        body: { user: '{a.body}', first: '{a.body.items[0].id}', ids: '{a.body.items[].id}', status: '{a.status}', label: 'user {a.body.name}', fixed: 3 },
        group: 'b',
      },
    ])
    expect(body.b.method).toBe('POST')
    expect(body.b.headers['content-type']).toBe('application/json')
    expect(JSON.parse(body.b.body)).toEqual({ user: A_BODY, first: 'x1', ids: ['x1', 'x2'], status: 200, label: 'user ada', fixed: 3 })
  })

  it('sends the request id, the pipeline\'s identity headers and per-call header templates to every call', async () => {
    const tag = newTag()
    const gwCalls: CallInput[] = [
      jsonCall('a', A_BODY, { output: false }),
      { name: 'b', upstream: 'origin', path: '/echo/b', headers: { 'X-Item': '{a.body.items[1].id}', 'X-Etag': '{a.headers.content-type}' }, group: 'b' },
      { name: 'c', upstream: 'origin', path: '/echo/c', group: 'c' },
    ]
    const { testGateway, ORIGIN } = await import('../support/gateway')
    const gw = testGateway({
      upstreams: { origin: { url: ORIGIN } },
      routes: [
        {
          id: 'agg',
          match: { path: '/agg/:id' },
          policies: [{ type: 'headers', request: { set: { 'X-User': 'user-{params.id}' } } }],
          action: { type: 'aggregate', calls: gwCalls },
        },
      ],
    })
    const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag, 'if-none-match': '"abc"', 'content-type': 'text/plain' } })
    const body = (await res.json()) as Record<string, Echo>
    const id = res.headers.get('x-request-id')
    expect(id).toBeTruthy()
    for (const echo of [body.b!, body.c!]) {
      expect(echo.headers['x-request-id']).toBe(id)
      expect(echo.headers['x-user']).toBe('user-42')
      expect(echo.headers['if-none-match']).toBeUndefined()
      expect(echo.headers['content-type']).toBeUndefined()
    }
    expect(body.b!.headers['x-item']).toBe('x2')
    expect(body.b!.headers['x-etag']).toBe('application/json')
    const log = await originLog(tag)
    expect(log.every((r) => r.headers['x-request-id'] === id)).toBe(true)
  })
})

describe('aggregate: in-flight cap', () => {
  it('holds 10 calls to 6 in flight at once by default', async () => {
    const tag = newTag()
    const calls: CallInput[] = Array.from({ length: 10 }, (_, i) => ({
      name: `c${i}`,
      upstream: 'origin',
      // The first six meet at one barrier, the last four at another: both must fill for a 200.
      path: i < 6 ? '/barrier/six' : '/barrier/four',
      query: { count: i < 6 ? '6' : '4' },
      timeout: 5000,
      group: `c${i}`,
    }))
    const { res } = await aggregate(tag, calls)
    expect(res.status).toBe(200)
    expect(await originStats(tag)).toMatchObject({ maxInFlight: 6, count: 10 })
  })

  it('honours a lower cap (3)', async () => {
    const tag = newTag()
    const calls: CallInput[] = Array.from({ length: 10 }, (_, i) => ({
      name: `c${i}`,
      upstream: 'origin',
      path: i < 9 ? `/barrier/g${Math.floor(i / 3)}` : '/echo/last',
      query: { count: '3' },
      timeout: 5000,
      group: `c${i}`,
    }))
    const { res } = await aggregate(tag, calls, { maxInFlight: 3 })
    expect(res.status).toBe(200)
    expect(await originStats(tag)).toMatchObject({ maxInFlight: 3, count: 10 })
  })

  it('never deadlocks: a chain and an independent call under a cap of 1', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(
      tag,
      [
        { name: 'c', upstream: 'origin', path: '/echo/c/{b.body.query.v}', group: 'c' },
        { name: 'b', upstream: 'origin', path: '/echo/b', query: { v: '{a.body.id}' }, output: false },
        jsonCall('a', { id: 5 }, { output: false }),
        { name: 'd', upstream: 'origin', path: '/echo/d', group: 'd' },
      ],
      { maxInFlight: 1 },
    )
    expect(res.status).toBe(200)
    expect(body.c.path).toBe('/echo/c/5')
    expect(await originStats(tag)).toMatchObject({ maxInFlight: 1, count: 4 })
  })
})
