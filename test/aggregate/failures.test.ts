/**
 * When calls fail: every merged call failing is a 502 unless the route says `onAllFailed: "empty"`;
 * `errors: "passthrough"` answers with the required call's error as the backend gave it;
 * `errorDetails` shows an excerpt of a failed call's body in `errors`. Real test origin.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse'
import { configProblems } from '../support/config'
import { newTag } from '../support/gateway'
import { aggregate, aggregateConfig, jsonCall, literal, type CallInput } from './helpers'

/** A call to the origin's `/json` answering `status` with `body` (text, typed application/json). */
const failing = (name: string, status: number, body: string, more: Partial<CallInput> = {}): CallInput => ({
  name,
  upstream: 'origin',
  path: '/json',
  query: { value: literal(body), status: String(status) },
  ...more,
})

describe('aggregate: every merged call failed', () => {
  const calls = (): CallInput[] => [
    jsonCall('config', { v: 1 }, { output: false }),
    failing('a', 500, '{"down":true}', { required: false }),
    { name: 'b', upstream: 'origin', path: '/echo/b/{a.body.down}', required: false },
    { name: 'c', upstream: 'origin', path: '/reset', required: false },
  ]

  it('answers 502 problem+json naming the calls', async () => {
    const { res, body } = await aggregate(newTag(), calls())
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(body).toMatchObject({
      code: 'ERR_UPSTREAM_BAD_RESPONSE',
      detail: 'Every call whose answer the response merges failed: "a" (status), "b" (skipped), "c" (unreachable).',
      calls: [
        { call: 'a', error: 'status', status: 500 },
        { call: 'b', error: 'skipped', after: 'a' },
        { call: 'c', error: 'unreachable' },
      ],
    })
  })

  it('answers 200 with only the errors member under onAllFailed: "empty"', async () => {
    const { res, body } = await aggregate(newTag(), calls(), { onAllFailed: 'empty' })
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('partial')
    expect(Object.keys(body)).toEqual(['errors'])
    expect(body.errors).toHaveLength(3)
  })

  it('still answers a partial 200 when one merged call answered', async () => {
    const { res, body } = await aggregate(newTag(), [...calls(), jsonCall('d', { d: 1 }, { required: false })])
    expect(res.status).toBe(200)
    expect(body.d).toBe(1)
  })
})

describe('aggregate: errors "passthrough"', () => {
  it('answers with the required call\'s status, type, Retry-After and body as they are', async () => {
    const answer = '{"error":"slow down","limit":10}'
    const { res, body } = await aggregate(newTag(), [
      failing('user', 429, answer, { query: { value: literal(answer), status: '429', h: 'Retry-After: 7' } }),
      jsonCall('other', { x: 1 }, { required: false }),
    ], { errors: 'passthrough' })
    expect(res.status).toBe(429)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('retry-after')).toBe('7')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-origin-seq')).toBeNull()
    expect(body).toEqual({ error: 'slow down', limit: 10 })
  })

  it('passes the body byte for byte, and a text one with its own type', async () => {
    const tag = newTag()
    const { testGateway } = await import('../support/gateway')
    const gw = testGateway(aggregateConfig([{ name: 'user', upstream: 'origin', path: '/echo/u', query: { status: '404', body: 'no such user {42}'.replace('{', '{{').replace('}', '}}') } }], { errors: 'passthrough' }))
    const res = await gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })
    expect([res.status, res.headers.get('content-type'), await res.text()]).toEqual([404, 'text/plain', 'no such user {42}'])
    expect(gw.logs[0]).toMatchObject({ status: 404, aggregate: 'passthrough' })
    const head = await gw.fetch('/agg/42', { method: 'HEAD', headers: { 'x-test-tag': tag } })
    expect([head.status, await head.text()]).toEqual([404, ''])
  })

  it('answers the usual problem when the body is over the call\'s maxBodyBytes, or the call did not answer', async () => {
    const big = await aggregate(newTag(), [failing('user', 500, JSON.stringify({ pad: 'x'.repeat(2000) }), { maxBodyBytes: 1000 })], { errors: 'passthrough' })
    expect(big.res.status).toBe(502)
    expect(big.body).toMatchObject({ code: 'ERR_UPSTREAM_BAD_RESPONSE', call: 'user', reason: 'status', upstreamStatus: 500 })
    const gone = await aggregate(newTag(), [{ name: 'user', upstream: 'origin', path: '/reset' }], { errors: 'passthrough' })
    expect(gone.res.status).toBe(502)
    expect(gone.body).toMatchObject({ code: 'ERR_UPSTREAM_UNREACHABLE', call: 'user' })
  })

  it('needs exactly one required call', () => {
    const two = configProblems(aggregateConfig([jsonCall('a', {}), jsonCall('b', {})], { errors: 'passthrough' }))
    expect(two).toEqual(['routes[0].action.errors: "passthrough" answers with the one required call\'s error, but 2 calls are (a, b); make exactly one call required'])
    const none = configProblems(aggregateConfig([jsonCall('a', {}, { required: false })], { errors: 'passthrough' }))
    expect(none).toEqual(['routes[0].action.errors: "passthrough" answers with the one required call\'s error, but no call is required; make exactly one call required'])
  })
})

describe('aggregate: errorDetails', () => {
  it('shows a failed call\'s body in its errors entry: JSON when whole, else text cut at 1 KiB', async () => {
    const long = 'é'.repeat(600)
    const { res, body } = await aggregate(newTag(), [
      jsonCall('ok', { ok: true }),
      failing('db', 503, '{"reason":"db down"}', { required: false }),
      failing('long', 500, long, { required: false }),
      failing('plain', 400, 'bad input', { required: false }),
    ], { errorDetails: true })
    expect(res.status).toBe(200)
    expect(body.errors).toEqual([
      { call: 'db', error: 'status', status: 503, body: { reason: 'db down' } },
      // 1,024 bytes are 512 two-byte characters: none cut in half.
      { call: 'long', error: 'status', status: 500, body: 'é'.repeat(512), bodyTruncated: true },
      { call: 'plain', error: 'status', status: 400, body: 'bad input' },
    ])
  })

  it('shows no body without errorDetails', async () => {
    const { body } = await aggregate(newTag(), [jsonCall('ok', {}), failing('db', 503, '{"reason":"db down"}', { required: false })])
    expect(body.errors).toEqual([{ call: 'db', error: 'status', status: 503 }])
  })
})

describe('aggregate: forwardHeaders notice', () => {
  const withAuth = (extra: Record<string, unknown>) => {
    const config = aggregateConfig([jsonCall('a', {})], extra, { policies: [{ type: 'api-key', kv: 'API_KEYS' }] })
    delete (config.routes[0]!.action as { forwardHeaders?: unknown }).forwardHeaders
    Object.assign(config.routes[0]!.action, extra)
    return parseConfig(config)
  }

  it('notices an aggregate route with an auth policy and no forwardHeaders; the config stands', () => {
    const result = withAuth({})
    expect(result.ok && result.notices).toEqual([
      'routes[0].action.forwardHeaders: the route has an auth policy (api-key) and its calls get none of the client\'s headers, Authorization and Cookie included; if a backend needs the client\'s credentials, name them (e.g. "forwardHeaders": ["Authorization"]), or set "forwardHeaders": [] to say none is needed',
    ])
    for (const extra of [{ forwardHeaders: [] }, { calls: [jsonCall('a', {}, { forwardHeaders: ['Authorization'] })] }]) {
      const said = withAuth(extra)
      expect(said.ok && said.notices).toEqual([])
    }
  })
})
