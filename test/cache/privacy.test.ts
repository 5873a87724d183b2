/**
 * Privacy: whose response goes to whom. The matrix is scope (unset, public, consumer) x where the
 * credential is (Authorization, cookie, API key header, API key query parameter) x what the origin
 * sends (no cache headers, `private`, `public` without `Vary`). User A asks, then user B, then A.
 *
 * No auth policy exists on this branch, so `consumer` scope runs behind a stand-in auth policy (phase
 * `auth`, registered only in this file) that makes the credential's owner the consumer, as the real
 * jwt / api-key policies publish `c.var.consumer`. The `it.todo`s at the end are the same cases
 * through the real auth policies, to be written once they are merged.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import * as v from 'valibot'
import { describe, expect, it } from 'vitest'
import { cacheRequest, compileKey, consumerPartition } from '../../src/cache/key'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/validate'
import type { Env } from '../../src/env'
import { createGateway } from '../../src/gateway'
import type { RequestLog } from '../../src/logging'
import { POLICY_DEFINITIONS } from '../../src/policies/registry'
import { originConfig } from '../helpers'
import { cacheStatus, seq, tagged } from './helpers'

type Placement = 'authorization' | 'cookie' | 'api-key-header' | 'api-key-query'
type OriginSends = 'nothing' | 'private' | 'public'
type Scope = 'unset' | 'public' | 'consumer'

const PLACEMENTS: Placement[] = ['authorization', 'cookie', 'api-key-header', 'api-key-query']
const ORIGIN_SENDS: Record<OriginSends, string> = { nothing: '', private: 'private, max-age=60', public: 'public, max-age=60' }

/** The request of user `who` with its credential at `placement`. */
function credentialed(placement: Placement, who: 'A' | 'B'): { query: string; headers: Record<string, string> } {
  const secret = `cred-${who}`
  switch (placement) {
    case 'authorization':
      return { query: '', headers: { Authorization: `Bearer ${secret}` } }
    case 'cookie':
      return { query: '', headers: { Cookie: `session=${secret}` } }
    case 'api-key-header':
      return { query: '', headers: { 'X-API-Key': secret } }
    case 'api-key-query':
      return { query: `&api_key=${secret}`, headers: {} }
  }
}

/** Stand-in for the auth policies: the credential's owner becomes `c.var.consumer`. */
POLICY_DEFINITIONS['test-consumer'] = {
  type: 'test-consumer',
  phase: 'auth',
  schema: v.any(),
  create: () =>
    async function testConsumer(c, next) {
      const h = c.req.raw.headers
      const raw =
        h.get('authorization')?.replace(/^Bearer /, '') ??
        h.get('cookie')?.replace(/^session=/, '') ??
        h.get('x-api-key') ??
        c.var.url.searchParams.get('api_key') ??
        undefined
      if (raw) c.set('consumer', { id: `user-${raw.slice(-1)}`, via: 'test' })
      await next()
    },
}

function gateway(scope: Scope) {
  const config: GatewayConfigInput = originConfig({
    routes: [
      {
        id: 'cached',
        match: { path: '/c/*' },
        policies: [{ type: 'cache', defaultTtl: 60, ...(scope !== 'unset' && { scope }) }],
        action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' },
      },
    ],
  })
  const parsed = loadConfig(config)
  if (scope === 'consumer') parsed.routes[0]!.policies.unshift({ type: 'test-consumer' } as never)
  const logs: RequestLog[] = []
  const app = createGateway(parsed, { ...env } as Env, { writeLog: (line) => logs.push(line) })
  return async (path: string, headers: Record<string, string>) => {
    const ctx = createExecutionContext()
    const res = await app.fetch(new Request(`http://gateway.test${path}`, { headers }), env, ctx)
    await waitOnExecutionContext(ctx)
    return { res, body: await res.text() }
  }
}

/** What B should get after A: A's stored response only where both the route and the origin share it. */
function bSharesWithA(scope: Scope, origin: OriginSends): boolean {
  return scope === 'public' && origin === 'public'
}
/** Whether A's own second request is a hit (its response was stored for A). */
function aHitsAgain(scope: Scope, origin: OriginSends): boolean {
  if (scope === 'unset' || origin === 'private') return false
  return scope === 'consumer' || origin === 'public'
}

describe('privacy matrix', () => {
  for (const scope of ['unset', 'public', 'consumer'] as Scope[]) {
    for (const placement of PLACEMENTS) {
      for (const origin of Object.keys(ORIGIN_SENDS) as OriginSends[]) {
        const shares = bSharesWithA(scope, origin)
        it(`scope ${scope}, credential in ${placement}, origin sends ${origin}: B ${shares ? 'gets the shared entry' : "never gets A's response"}`, async () => {
          const send = gateway(scope)
          const t = tagged()
          const cc = ORIGIN_SENDS[origin] ? `cc=${encodeURIComponent(ORIGIN_SENDS[origin])}` : 'x=1'
          const ask = (who: 'A' | 'B') => {
            const { query, headers } = credentialed(placement, who)
            return send(`/c/echo/${t.tag}?${cc}${query}`, t.headers(headers))
          }
          const a1 = await ask('A')
          expect(a1.body).toContain('cred-A')
          const b = await ask('B')
          if (shares) {
            expect(cacheStatus(b.res)).toMatch(/^edgeway; hit/)
            expect(seq(b.res)).toBe(1)
          } else {
            expect(seq(b.res)).toBe(2)
            expect(b.body).toContain('cred-B')
            expect(b.body).not.toContain('cred-A')
          }
          const a2 = await ask('A')
          if (aHitsAgain(scope, origin)) {
            expect(cacheStatus(a2.res)).toMatch(/^edgeway; hit/)
            expect(seq(a2.res)).toBe(1)
          } else {
            expect(cacheStatus(a2.res)).not.toMatch(/hit/)
            expect(a2.body).toContain('cred-A')
          }
          if (scope === 'unset') expect(cacheStatus(b.res)).toBe('edgeway; fwd=bypass; detail=credentials')
        })
      }
    }
  }

  it('anonymous requests never get an entry stored for a consumer, nor the other way round', async () => {
    const send = gateway('consumer')
    const t = tagged()
    const url = `/c/echo/${t.tag}?x=1`
    await send(url, t.headers({ Authorization: 'Bearer cred-A' }))
    const anonymous = await send(url, t.headers())
    expect(seq(anonymous.res)).toBe(2)
    expect(anonymous.body).not.toContain('cred-A')
    const anonymousAgain = await send(url, t.headers())
    expect(cacheStatus(anonymousAgain.res)).toMatch(/hit/)
    const c = await send(url, t.headers({ Authorization: 'Bearer cred-C' }))
    expect(seq(c.res)).toBe(3)
  })

  it('scope unset: an anonymous entry is not served to a request with credentials either', async () => {
    const send = gateway('unset')
    const t = tagged()
    const url = `/c/echo/${t.tag}?x=1`
    await send(url, t.headers())
    expect(cacheStatus((await send(url, t.headers())).res)).toMatch(/hit/)
    const withKey = await send(url, t.headers({ 'X-API-Key': 'cred-A' }))
    expect(cacheStatus(withKey.res)).toBe('edgeway; fwd=bypass; detail=credentials')
  })

  it.todo('through the jwt policy: scope "consumer" keys by the token subject, two subjects never share an entry')
  it.todo('through the api-key policy (header and query): scope "consumer" keys by the key owner, two owners never share an entry')
  it.todo('through the jwt policy: scope "public" shares only responses the origin marks public; a private one is never stored')
  it.todo('an auth failure (401) is never stored, and a cached entry is never served before authentication succeeds')
  it.todo('a rate-limited request (429) is answered before the cache: cached hits are still counted')
})

describe('keys hold no credential', () => {
  const key = compileKey({ query: { sort: true }, headers: [], credentials: { headers: ['X-API-Key'], query: ['api_key'], cookies: true } })

  it('the consumer id is hashed, API keys in the query are left out, and the Cache API URL is a hash', async () => {
    const partition = await consumerPartition('user-secret-id')
    expect(partition).toMatch(/^consumer:[0-9a-f]{32}$/)
    const text = key.primary({ host: 'api.test', routeId: 'r', generation: '0.0.0', partition, path: '/me', search: '?api_key=sk_live_123&b=2', headers: new Headers() })
    expect(text).not.toContain('user-secret-id')
    expect(text).not.toContain('sk_live_123')
    expect(text).toContain('GET /me?b=2')
    const request = await cacheRequest('https://api.test', text)
    expect(request.url).toMatch(/^https:\/\/api\.test\/__edgeway_cache\/[0-9a-f]{64}$/)
  })

  it('finds credentials wherever they are', () => {
    expect(key.credentialsOf(new Headers({ authorization: 'x' }), '')).toBe('authorization')
    expect(key.credentialsOf(new Headers({ cookie: 'a=1' }), '')).toBe('cookie')
    expect(key.credentialsOf(new Headers({ 'x-api-key': 'k' }), '')).toBe('header:x-api-key')
    expect(key.credentialsOf(new Headers(), '?API_KEY=k')).toBe('query:api_key')
    expect(key.credentialsOf(new Headers({ accept: '*/*' }), '?page=2')).toBeUndefined()
  })
})

describe('stored entries hold no per-client header', () => {
  it('request id, RateLimit, a named-origin CORS grant, set inside the cache phase, are stripped; outer ones are fresh per request', async () => {
    const t = tagged()
    const config = originConfig({
      policies: [{ type: 'request-id', header: 'X-Correlation-Id' }],
      routes: [
        {
          id: 'cached',
          match: { path: '/c/*' },
          policies: [
            { type: 'cache', defaultTtl: 60 },
            {
              type: 'headers',
              response: {
                set: {
                  'X-Request-Id': '{request.id}',
                  'X-Correlation-Id': '{request.id}',
                  RateLimit: 'limit=10, remaining=9, reset=30',
                  'X-RateLimit-Remaining': '9',
                  'Access-Control-Allow-Origin': 'https://a.example',
                  'Access-Control-Allow-Credentials': 'true',
                  'X-Kept': 'yes',
                },
              },
            },
          ],
          action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' },
        },
      ],
    })
    const send = gatewayFrom(config)
    const miss = await send(`/c/echo/${t.tag}`, t.headers())
    expect(miss.res.headers.get('ratelimit')).toBe('limit=10, remaining=9, reset=30')
    const hit = await send(`/c/echo/${t.tag}`, t.headers())
    expect(cacheStatus(hit.res)).toMatch(/hit/)
    for (const name of ['x-request-id', 'ratelimit', 'x-ratelimit-remaining', 'access-control-allow-origin', 'access-control-allow-credentials']) {
      expect(hit.res.headers.get(name), name).toBeNull()
    }
    expect(hit.res.headers.get('x-kept')).toBe('yes')
    // The global request-id policy runs outside the cache: the hit carries its own request's id.
    expect(hit.res.headers.get('x-correlation-id')).toBe(hit.log.requestId)
    expect(hit.res.headers.get('x-correlation-id')).not.toBe(miss.log.requestId)
  })

  it('a wildcard CORS grant, or one keyed by Vary: Origin, is not per client and is kept', async () => {
    const t = tagged()
    const send = gatewayFrom(originConfig({ routes: [{ id: 'cached', match: { path: '/c/*' }, policies: [{ type: 'cache', defaultTtl: 60 }], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' } }] }))
    const star = `/c/echo/${t.tag}/star?h=${encodeURIComponent('Access-Control-Allow-Origin:*')}`
    await send(star, t.headers())
    expect((await send(star, t.headers())).res.headers.get('access-control-allow-origin')).toBe('*')
    const varied = `/c/echo/${t.tag}/varied?h=${encodeURIComponent('Access-Control-Allow-Origin:https://a.example')}&h=${encodeURIComponent('Vary:Origin')}`
    await send(varied, t.headers({ Origin: 'https://a.example' }))
    const again = await send(varied, t.headers({ Origin: 'https://a.example' }))
    expect(cacheStatus(again.res)).toMatch(/hit/)
    expect(again.res.headers.get('access-control-allow-origin')).toBe('https://a.example')
    expect(cacheStatus((await send(varied, t.headers({ Origin: 'https://b.example' }))).res)).toMatch(/vary-miss/)
  })
})

function gatewayFrom(config: GatewayConfigInput) {
  const logs: RequestLog[] = []
  const app = createGateway(loadConfig(config), { ...env } as Env, { writeLog: (line) => logs.push(line) })
  return async (path: string, headers: Record<string, string>) => {
    const ctx = createExecutionContext()
    const res = await app.fetch(new Request(`http://gateway.test${path}`, { headers }), env, ctx)
    await waitOnExecutionContext(ctx)
    return { res, body: await res.text(), log: logs.at(-1)! }
  }
}
