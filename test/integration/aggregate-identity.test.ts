/**
 * Identity through aggregation: what the auth policies put on the upstream request (claims
 * forwarded by `jwt`, the request id) reaches every call of an aggregate route, parallel, chained
 * and POST alike; what a client sends to pass for someone else (a spoofed identity header, a
 * request id when ids are not trusted) and the credentials hidden from origins never reach any call.
 * Real tokens, real test origin (its log shows what each call received).
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { ORIGIN, originLog, testGateway } from '../support/gateway'
import { literal } from '../aggregate/helpers'
import { configKeys, consumerId, newIssuer } from './identity'

type PolicyInput = NonNullable<GatewayConfigInput['routes'][number]['policies']>[number]

/** Four calls that each answer the headers they received: two in parallel, one chained, one POST. */
const CALLS = [
  { name: 'profile', upstream: 'origin', path: '/echo/profile/{params.id}', select: 'headers', group: 'profile' },
  { name: 'orders', upstream: 'origin', path: '/echo/orders/{claims.sub}', select: 'headers', group: 'orders' },
  { name: 'chained', upstream: 'origin', path: '/echo/chained', query: { after: '{profile.body.path}' }, select: 'headers', group: 'chained' },
  { name: 'post', upstream: 'origin', method: 'POST' as const, path: '/echo/post', body: { user: '{claims.sub}', note: literal('{not a template}') }, select: 'headers', group: 'post' },
]

function gateway(auth: PolicyInput, more: Partial<GatewayConfigInput> = {}, env: Record<string, unknown> = {}, forwardHeaders = ['x-test-tag']) {
  return testGateway(
    {
      upstreams: { origin: { url: ORIGIN } },
      ...more,
      routes: [{ id: 'agg', match: { path: '/agg/:id' }, policies: [auth], action: { type: 'aggregate', forwardHeaders, calls: CALLS } }],
    },
    env,
  )
}

type Headers = Record<string, string>

describe('identity forwarding through aggregation', () => {
  it('forwarded claims and the request id reach every call; spoofed identity headers and the client\'s request id never do', async () => {
    const iss = await newIssuer()
    const gw = gateway({ type: 'jwt', issuers: [iss.config], forwardClaims: { 'X-User-Id': 'sub', 'X-Org': 'org.id' }, removeAuthorization: true })
    const sub = consumerId('ada')
    const tag = crypto.randomUUID()
    const res = await gw.fetch('/agg/7', {
      headers: {
        authorization: `Bearer ${await iss.token(sub, { org: { id: 42 } })}`,
        'x-user-id': 'admin',
        'X-Org': '1',
        'x-request-id': 'client-chosen-id',
        'x-test-tag': tag,
      },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    const requestId = res.headers.get('x-request-id')!
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
    const body = (await res.json()) as Record<string, Headers>
    expect(Object.keys(body)).toEqual(['profile', 'orders', 'chained', 'post'])
    for (const [call, headers] of Object.entries(body)) {
      expect(headers['x-user-id'], call).toBe(sub)
      expect(headers['x-org'], call).toBe('42')
      expect(headers['x-request-id'], call).toBe(requestId)
      expect(headers.authorization, call).toBeUndefined()
    }
    // The origin's own log agrees: four requests, each with the verified identity only.
    const seen = await originLog(tag)
    expect(seen.map((r) => r.url.split('?')[0]).sort()).toEqual(['/echo/chained', '/echo/orders/' + sub, '/echo/post', '/echo/profile/7'])
    for (const request of seen) {
      expect(request.headers['x-user-id']).toBe(sub)
      expect(request.headers['x-org']).toBe('42')
      expect(request.headers['x-request-id']).toBe(requestId)
    }
    expect(gw.logs[0]).toMatchObject({ requestId, consumer: sub, aggregate: 'complete' })
  })

  it('a claim the token lacks: the client\'s header of that name is still removed from every call, even with forwardHeaders "*"', async () => {
    const iss = await newIssuer()
    const gw = gateway({ type: 'jwt', issuers: [iss.config], forwardClaims: { 'X-User-Id': 'sub', 'X-Org': 'org.id' } }, {}, {}, ['*'])
    const res = await gw.fetch('/agg/7', { headers: { authorization: `Bearer ${await iss.token(consumerId('bo'))}`, 'x-org': 'acme-admins', 'x-other': 'kept' } })
    const body = (await res.json()) as Record<string, Headers>
    for (const [call, headers] of Object.entries(body)) {
      expect(headers['x-org'], call).toBeUndefined()
      expect(headers['x-other'], call).toBe('kept')
      // "*" leaves credentials out, though the jwt policy kept the token on the draft (removeAuthorization: false).
      expect(headers.authorization, call).toBeUndefined()
    }
  })

  it('the client\'s token reaches a call only when forwardHeaders names Authorization', async () => {
    const iss = await newIssuer()
    const token = `Bearer ${await iss.token(consumerId('cy'))}`
    for (const [forward, expected] of [[[], undefined], [['*'], undefined], [['*', 'Authorization'], token], [['authorization'], token]] as const) {
      const gw = gateway({ type: 'jwt', issuers: [iss.config] }, {}, {}, [...forward])
      const body = (await (await gw.fetch('/agg/7', { headers: { authorization: token } })).json()) as Record<string, Headers>
      for (const [call, headers] of Object.entries(body)) expect({ forward, call, authorization: headers.authorization }).toEqual({ forward, call, authorization: expected })
    }
  })

  it('an API key (header or query) is hidden from every call; the consumer reaches them through a headers policy', async () => {
    const acme = consumerId('acme')
    const keyed = await configKeys({ [acme]: {} })
    const key = keyed.keys[acme]!
    const testGw = testGateway(
      {
        upstreams: { origin: { url: ORIGIN } },
        consumers: keyed.consumers,
        routes: [
          {
            id: 'agg',
            match: { path: '/agg/:id' },
            policies: [{ type: 'api-key', query: 'api_key' }, { type: 'headers', request: { set: { 'X-Consumer-Id': '{consumer.id}' } } }],
            action: { type: 'aggregate', calls: [...CALLS, { name: 'paged', upstream: 'origin', path: '/echo/paged', query: { page: '2' }, group: 'paged' }] },
          },
        ],
      },
      keyed.env,
    )
    const cases: { path: string; headers: Record<string, string> }[] = [
      { path: '/agg/7', headers: { 'x-api-key': key } },
      { path: `/agg/7?api_key=${key}`, headers: {} },
    ]
    for (const init of cases) {
      const res = await testGw.fetch(init.path, { headers: init.headers })
      expect(res.status).toBe(200)
      const text = await res.text()
      expect(text).not.toContain(key)
      const body = JSON.parse(text) as Record<string, Headers> & { paged: { url: string } }
      for (const call of ['profile', 'orders', 'chained', 'post']) {
        expect(body[call]!['x-consumer-id'], call).toBe(acme)
        expect(body[call]!['x-api-key'], call).toBeUndefined()
      }
      expect(body.paged.url).toBe('/echo/paged?page=2')
    }
  })
})
