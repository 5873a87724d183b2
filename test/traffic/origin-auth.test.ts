/**
 * `origin-auth`: a real origin (test/node/origin.ts, `/signed/...`) verifies the signature with the
 * reference verifier from the docs; tampered, expired and replayed signatures are refused by it.
 * The mTLS binding is a Cloudflare binding that can't run locally: only its call path is tested.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/core/errors'
import { newTag, ORIGIN, originConfig, originLog, routeGateway, testGateway, TO_ORIGIN, type Echo } from '../support/gateway'

/** The same secret the test origin verifies with (test/node/origin.ts `SIGNING_SECRET`). */
const SECRET = 'test-origin-signing-secret'

/** Route `r` (`/api/*`) signing what it proxies to the origin's `/signed` (with the secret bound, or not). */
function gateway(withSecret = true) {
  return routeGateway(
    {
      match: { path: '/api/*' },
      policies: [{ type: 'origin-auth', secret: 'ORIGIN_SIGNING_SECRET' }, { type: 'transform', request: { query: { add: { via: 'gw' } } } }],
      action: { ...TO_ORIGIN, stripPrefix: '/api' },
    },
    { config: { upstreams: { origin: { url: `${ORIGIN}/signed` } } }, env: withSecret ? { ORIGIN_SIGNING_SECRET: SECRET } : {} },
  )
}

async function sign(t: number, rid: string, method: string, target: string, secret = SECRET): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}\n${rid}\n${method}\n${target}`))
  return `t=${t},rid=${rid},v1=${[...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, '0')).join('')}`
}

describe('origin-auth', () => {
  it('signs what the origin receives after every rewrite; the origin accepts it', async () => {
    const gw = gateway()
    const res = await gw.fetch('/api/orders/1?x=%20y', { method: 'POST', body: 'hi' })
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.url).toBe('/signed/orders/1?x=+y&via=gw')
    expect(echo.headers['x-edgeway-signature']).toMatch(new RegExp(`^t=\\d+,rid=${res.headers.get('x-request-id')}\\.[0-9a-f]{16},v1=[0-9a-f]{64}$`))
  })

  it('the origin refuses requests that bypass the gateway, or carry a forged, tampered, expired or replayed signature', async () => {
    const direct = (headers: Record<string, string> = {}, path = '/signed/orders/1') => fetch(`${ORIGIN}${path}`, { headers })
    const reason = async (res: Response) => ((await res.json()) as { error: string }).error
    expect(await reason(await direct())).toBe('missing signature')
    const now = Math.floor(Date.now() / 1000)
    expect(await reason(await direct({ 'x-edgeway-signature': await sign(now, 'r1', 'GET', '/signed/orders/1', 'wrong-secret') }))).toBe('bad signature')
    expect(await reason(await direct({ 'x-edgeway-signature': await sign(now - 301, 'r2', 'GET', '/signed/orders/1') }))).toBe('outside the replay window')

    // Capture a real signature from the gateway, then reuse it.
    const echo = (await (await gateway().fetch('/api/orders/1')).json()) as Echo
    const captured = echo.headers['x-edgeway-signature']!
    expect(await reason(await direct({ 'x-edgeway-signature': captured }, '/signed/orders/2?via=gw'))).toBe('bad signature')
    expect(await reason(await direct({ 'x-edgeway-signature': captured }, '/signed/orders/1?via=gw'))).toBe('replayed')
    expect(await reason(await direct({ 'x-edgeway-signature': captured.replace(/v1=./, 'v1=0') }, '/signed/orders/1?via=gw'))).toMatch(/bad signature|replayed/)
  })

  it('drops a client-sent signature header and signs afresh', async () => {
    const res = await gateway().fetch('/api/x', { headers: { 'x-edgeway-signature': 't=1,rid=forged,v1=' + '0'.repeat(64) } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).headers['x-edgeway-signature']).not.toContain('forged')
  })

  it('signs each try afresh: a retry is not refused as a replay by the verifying origin', async () => {
    const tag = newTag()
    const gw = testGateway(
      {
        upstreams: { origin: { url: `${ORIGIN}/signed`, retries: { attempts: 1, backoff: { base: 1, max: 1 } } } },
        routes: [{ id: 'r', match: { path: '/api/*' }, policies: [{ type: 'origin-auth', secret: 'ORIGIN_SIGNING_SECRET' }], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api' } }],
      },
      { ORIGIN_SIGNING_SECRET: SECRET },
    )
    const res = await gw.fetch('/api/orders/1?fail-first=1', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(200) // the first try got 503 (after a valid signature), the retry passed
    expect(gw.logs[0]!.upstream).toMatchObject({ tries: 2, retried: 1 })
    const rids = (await originLog(tag)).map((r) => /rid=([^,]+)/.exec(r.headers['x-edgeway-signature']!)![1]!)
    const id = res.headers.get('x-request-id')!
    expect(rids).toHaveLength(2)
    expect(rids[0]).not.toBe(rids[1])
    for (const rid of rids) expect(rid.startsWith(`${id}.`)).toBe(true) // still names the request
  })

  it('a mirrored copy carries its own signature: the origin accepts both it and the request', async () => {
    const tag = newTag()
    const gw = testGateway(
      {
        upstreams: { origin: { url: `${ORIGIN}/signed` }, shadow: { url: `${ORIGIN}/signed` } },
        routes: [{ id: 'r', match: { path: '/api/*' }, policies: [{ type: 'origin-auth', secret: 'ORIGIN_SIGNING_SECRET' }], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api', mirror: { upstream: 'shadow' } } }],
      },
      { ORIGIN_SIGNING_SECRET: SECRET },
    )
    const res = await gw.fetch('/api/m?status=201', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(201)
    const seen = await originLog(tag)
    expect(seen.map((r) => r.headers['x-edgeway-mirror'] ?? 'main').sort()).toEqual(['1', 'main'])
    const rids = seen.map((r) => /rid=([^,]+)/.exec(r.headers['x-edgeway-signature']!)![1])
    expect(rids[0]).not.toBe(rids[1])
  })

  it('a client that resends its own X-Request-Id (trustIncoming) is not refused as a replay', async () => {
    const gw = testGateway(
      {
        upstreams: { origin: { url: `${ORIGIN}/signed` } },
        routes: [
          {
            id: 'r',
            match: { path: '/api/*' },
            policies: [{ type: 'request-id', trustIncoming: true }, { type: 'origin-auth', secret: 'ORIGIN_SIGNING_SECRET' }],
            action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api' },
          },
        ],
      },
      { ORIGIN_SIGNING_SECRET: SECRET },
    )
    const id = `client-${newTag()}`
    for (let i = 0; i < 2; i++) {
      const res = await gw.fetch('/api/orders/1', { headers: { 'x-request-id': id } })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-request-id')).toBe(id)
      await res.body?.cancel()
    }
  })

  it('signs every aggregation call, and each of its tries', async () => {
    const tag = newTag()
    const gw = testGateway(
      {
        upstreams: { origin: { url: ORIGIN, retries: { attempts: 1, backoff: { base: 1, max: 1 } } } },
        routes: [
          {
            id: 'agg',
            match: { path: '/agg' },
            policies: [{ type: 'origin-auth', secret: 'ORIGIN_SIGNING_SECRET' }],
            action: {
              type: 'aggregate',
              forwardHeaders: ['x-test-tag'],
              calls: [
                { name: 'user', upstream: 'origin', path: '/signed/user', query: { 'fail-first': '1' }, group: 'user' },
                { name: 'orders', upstream: 'origin', path: '/signed/orders/{user.body.path}', group: 'orders' },
              ],
            },
          },
        ],
      },
      { ORIGIN_SIGNING_SECRET: SECRET },
    )
    const res = await gw.fetch('/agg', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { user: Echo; orders: Echo }
    expect(body.user.path).toBe('/signed/user')
    expect(body.orders.path).toBe('/signed/orders/%2Fsigned%2Fuser')
    const seen = await originLog(tag)
    expect(seen.map((r) => r.url)).toEqual(['/signed/user?fail-first=1', '/signed/user?fail-first=1', '/signed/orders/%2Fsigned%2Fuser'])
    const rids = seen.map((r) => /rid=([^,]+)/.exec(r.headers['x-edgeway-signature']!)![1])
    expect(new Set(rids).size).toBe(3)
  })

  it('refuses to build without the named Worker secret', () => {
    expect(() => gateway(false)).toThrow(ConfigError)
    try {
      gateway(false)
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['routes[0].policies[0].secret: Worker secret "ORIGIN_SIGNING_SECRET" is not set'])
    }
  })
})

describe('upstream mtls binding', () => {
  it('sends the upstream\'s requests through the named mTLS certificate binding', async () => {
    const seen: string[] = []
    // Stands in for Cloudflare's mTLS binding (which can't run locally): forwards to the real origin.
    const binding = { fetch: (request: Request) => (seen.push(request.url), fetch(request)) }
    const gw = testGateway(originConfig({ upstreams: { origin: { url: ORIGIN, mtls: 'ORIGIN_CERT' } } }), { ORIGIN_CERT: binding })
    const res = await gw.fetch('/echo/m')
    expect(res.status).toBe(200)
    expect(seen).toEqual([`${ORIGIN}/echo/m`])
  })

  it('refuses to build when the binding is missing', () => {
    expect(() => testGateway(originConfig({ upstreams: { origin: { url: ORIGIN, mtls: 'NO_SUCH_CERT' } } }))).toThrow(
      'upstreams.origin.mtls: no mTLS certificate binding "NO_SUCH_CERT"',
    )
  })
})
