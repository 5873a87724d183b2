/**
 * What the client gets back: shaping, the merge rule, partial results, required failures, and
 * the body limits (size cap, non-JSON, raw), against the real test origin.
 */
import { describe, expect, it } from 'vitest'
import { newTag, originEvents, originStats } from '../support/gateway'
import { pollUntil } from '../support/runtime'
import { aggregate, jsonCall, literal, type CallInput } from './helpers'

const SHOP = {
  data: {
    user: { id: 1, full_name: 'Ada', password: 'secret', address: { city: 'London', zip: 'N1' } },
    orders: [
      { id: 'o1', total: 3, internal: true, items: [{ sku: 'a' }, { sku: 'b' }] },
      { id: 'o2', total: 4, internal: false, items: [{ sku: 'c' }] },
    ],
  },
}

describe('aggregate: shaping', () => {
  it('selects, denies and renames', async () => {
    const { body } = await aggregate(newTag(), [
      jsonCall('user', SHOP, { select: 'data.user', deny: ['password', 'address.zip'], rename: { full_name: 'name' } }),
    ])
    expect(body).toEqual({ id: 1, name: 'Ada', address: { city: 'London' } })
  })

  it('allows fields through arrays, renames inside arrays, collects and groups', async () => {
    const { body } = await aggregate(newTag(), [
      jsonCall('shop', SHOP, {
        select: 'data',
        collect: { skus: 'orders[].items[].sku', totals: 'orders[].total' },
        allow: ['orders[].id', 'orders[].items', 'skus', 'totals'],
        deny: ['orders[].items'],
        rename: { 'orders[].id': 'orderId' },
        group: 'shop',
      }),
    ])
    expect(body).toEqual({
      shop: { orders: [{ orderId: 'o1' }, { orderId: 'o2' }], skus: ['a', 'b', 'c'], totals: [3, 4] },
    })
  })

  it('puts a non-object result (a selected list) under the call name', async () => {
    const { body } = await aggregate(newTag(), [jsonCall('ids', SHOP, { select: 'data.orders[].id' })])
    expect(body).toEqual({ ids: ['o1', 'o2'] })
  })

  it('leaves out calls with output: false (they only feed others)', async () => {
    const { body } = await aggregate(newTag(), [
      jsonCall('user', SHOP, { output: false }),
      jsonCall('shown', { ok: true }),
    ])
    expect(body).toEqual({ ok: true })
  })

  it('merges by the documented rule: objects deeply, anything else the later call in the config wins', async () => {
    const first = { x: 1, obj: { p: 1, q: 1, deep: { a: 1 } }, list: [1, 2], kind: { nested: true } }
    const second = { x: 2, obj: { q: 2, r: 2, deep: { b: 2 } }, list: [3], kind: 'flat' }
    // The first call answers last: completion order must not change the result.
    const { body } = await aggregate(newTag(), [
      jsonCall('first', first, { query: { value: literal(JSON.stringify(first)), delay: '50' } }),
      jsonCall('second', second),
    ])
    expect(body).toEqual({ x: 2, obj: { p: 1, q: 2, r: 2, deep: { a: 1, b: 2 } }, list: [3], kind: 'flat' })
  })

  it('appends lists where a call\'s append names the place, in config order, whatever order the calls answer in', async () => {
    const first = { items: [1, 2], data: { rows: ['a'] }, other: [9] }
    const { body } = await aggregate(newTag(), [
      jsonCall('first', first, { query: { value: literal(JSON.stringify(first)), delay: '50' } }),
      jsonCall('second', { items: [3], data: { rows: ['b', 'c'] }, other: [10] }, { append: ['items', 'data.rows'] }),
      // A list result goes under its group (or name): append names that place.
      jsonCall('third', { found: [4, 5] }, { select: 'found', group: 'items', append: ['items'] }),
      jsonCall('fourth', { items: 'not a list' }, { append: ['items'], group: 'late' }),
    ])
    expect(body).toEqual({ items: [1, 2, 3, 4, 5], data: { rows: ['a', 'b', 'c'] }, other: [10], late: { items: 'not a list' } })
  })

  it('keeps a "__proto__" member as data, without touching prototypes', async () => {
    const res = await aggregate(newTag(), [
      { name: 'a', upstream: 'origin', path: '/json', query: { value: '{{"__proto__":{{"polluted":true}},"ok":1}}' } },
    ])
    expect(res.body.ok).toBe(1)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('aggregate: partial results and failures', () => {
  it('leaves out an optional call that times out, reports it and skips what depends on it', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [
      jsonCall('user', { id: 1 }),
      { name: 'slow', upstream: 'origin', path: '/hang', timeout: 300, required: false },
      { name: 'after', upstream: 'origin', path: '/echo/{slow.body.id}', required: false },
      { name: 'broken', upstream: 'origin', path: '/status/503', required: false },
    ])
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('partial')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(body).toEqual({
      id: 1,
      errors: [
        { call: 'slow', error: 'timeout' },
        { call: 'after', error: 'skipped', after: 'slow' },
        { call: 'broken', error: 'status', status: 503 },
      ],
    })
    // The skipped call never reached the origin.
    expect((await originStats(tag)).count).toBe(3)
  })

  it('bounds the whole run by the route deadline, queueing included', async () => {
    const { testGateway } = await import('../support/gateway')
    const { aggregateConfig } = await import('./helpers')
    // Alone, "late" answers in time; queued behind "first" (cap 1), the 400 ms deadline leaves it too little.
    const config = aggregateConfig(
      [
        jsonCall('ok', { ok: true }, { timeout: 300 }),
        { name: 'first', upstream: 'origin', path: '/hang', timeout: 300, required: false },
        { name: 'late', upstream: 'origin', path: '/echo/late', query: { delay: '250' }, timeout: 300, required: false },
      ],
      { maxInFlight: 1 },
      { deadline: 400 },
    )
    const res = await testGateway(config).fetch('/agg/1', { headers: { 'x-test-tag': newTag() } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      ok: true,
      errors: [
        { call: 'first', error: 'timeout' },
        { call: 'late', error: 'timeout' },
      ],
    })
  })

  it('replaces a backend member named like the errors member when partial (documented)', async () => {
    const calls: CallInput[] = [jsonCall('a', { errors: ['from the backend'], ok: 1 })]
    expect((await aggregate(newTag(), calls)).body).toEqual({ errors: ['from the backend'], ok: 1 })
    const partial = await aggregate(newTag(), [...calls, { name: 'b', upstream: 'origin', path: '/status/500', required: false }])
    expect(partial.body).toEqual({ errors: [{ call: 'b', error: 'status', status: 500 }], ok: 1 })
  })

  it('names the errors member as configured', async () => {
    const { body } = await aggregate(newTag(), [jsonCall('a', { errors: 'mine' }), { name: 'b', upstream: 'origin', path: '/reset', required: false }], {
      errorsKey: '_failed',
    })
    expect(body).toEqual({ errors: 'mine', _failed: [{ call: 'b', error: 'unreachable' }] })
  })

  it('fails with 502 problem+json naming a required call that answers 500', async () => {
    const { res, body } = await aggregate(newTag(), [jsonCall('a', { ok: 1 }), { name: 'billing', upstream: 'origin', path: '/status/500' }])
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(body).toMatchObject({ status: 502, code: 'ERR_UPSTREAM_BAD_RESPONSE', call: 'billing', reason: 'status', upstreamStatus: 500 })
    expect(body.detail).toBe('The required call "billing" answered with an error status.')
    expect(JSON.stringify(body)).not.toContain('127.0.0.1')
  })

  it('fails with 504 when a required call times out, without waiting for the rest', async () => {
    const tag = newTag()
    const { testGateway, ORIGIN } = await import('../support/gateway')
    const { aggregateConfig } = await import('./helpers')
    // "other" may wait 60 s (its try too), past this test's 20 s timeout: waiting for it fails the test.
    const config = aggregateConfig([
      { name: 'slow', upstream: 'origin', path: '/hang', timeout: 300 },
      { name: 'other', upstream: 'patient', path: '/hang', timeout: 60_000, required: false },
    ])
    config.upstreams = { ...config.upstreams, patient: { url: ORIGIN, timeouts: { headers: 60_000 } } }
    const res = await testGateway(config).fetch('/agg/1', { headers: { 'x-test-tag': tag } })
    const body = await res.json()
    expect(res.status).toBe(504)
    expect(body).toMatchObject({ code: 'ERR_UPSTREAM_TIMEOUT', call: 'slow', reason: 'timeout' })
    // Both reached the origin, and both requests were aborted, "other" included.
    const stats = await pollUntil(() => originStats(tag), (s) => s.inFlight === 0)
    expect(stats).toMatchObject({ count: 2, inFlight: 0 })
  })

  it('fails with 502 when a required upstream is unreachable', async () => {
    const { res, body } = await aggregate(newTag(), [{ name: 'gone', upstream: 'origin', path: '/reset' }])
    expect(res.status).toBe(502)
    expect(body).toMatchObject({ code: 'ERR_UPSTREAM_UNREACHABLE', call: 'gone' })
  })
})

describe('aggregate: body limits', () => {
  it('rejects an oversized body while streaming it (required: 502)', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [{ name: 'big', upstream: 'origin', path: '/big', query: { bytes: '32000000' } }], {
      maxBodyBytes: 100_000,
    })
    expect(res.status).toBe(502)
    expect(body).toMatchObject({ call: 'big', reason: 'too-large' })
    // The read stopped at the cap and cancelled the stream: the origin sent a small part of its
    // 32 MB (the cap plus what socket buffers held), where reading it all first would take it all.
    const events = await pollUntil(() => originEvents(tag), (list) => list.some((e) => e.startsWith('big-')))
    const end = events.find((e) => e.startsWith('big-')) ?? ''
    expect(end).toMatch(/^big-aborted:\d+$/)
    expect(Number(end.split(':')[1])).toBeLessThan(8_000_000)
  })

  it('reports an oversized optional body, and accepts one under its own cap', async () => {
    const { res, body } = await aggregate(newTag(), [
      { name: 'big', upstream: 'origin', path: '/big', query: { bytes: '300000' }, required: false },
      { name: 'fits', upstream: 'origin', path: '/big', query: { bytes: '300000' }, maxBodyBytes: 400_000 },
    ], { maxBodyBytes: 200_000 })
    expect(res.status).toBe(200)
    expect(body.fits).toHaveLength(300_000 - 2)
    expect(body.errors).toEqual([{ call: 'big', error: 'too-large' }])
  })

  it('treats a non-JSON body as an error: by its type, and by its text', async () => {
    const { body } = await aggregate(newTag(), [
      jsonCall('ok', { ok: true }),
      { name: 'text', upstream: 'origin', path: '/echo/t', query: { body: 'hello' }, required: false },
      { name: 'lying', upstream: 'origin', path: '/json', query: { value: 'not json' }, required: false },
    ])
    expect(body).toEqual({
      ok: true,
      errors: [
        { call: 'text', error: 'not-json' },
        { call: 'lying', error: 'not-json' },
      ],
    })
  })

  it('passes a raw call through as a string', async () => {
    const { res, body } = await aggregate(newTag(), [
      { name: 'text', upstream: 'origin', path: '/echo/t', query: { body: 'hello <b>' }, raw: true },
      { name: 'grouped', upstream: 'origin', path: '/echo/t', query: { body: 'x' }, raw: true, group: 'g' },
    ])
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    expect(body).toEqual({ text: 'hello <b>', g: 'x' })
  })
})
