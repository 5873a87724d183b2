/**
 * `origin-auth`: a real origin (test/node/origin.ts, `/signed/...`) verifies the signature with the
 * reference verifier from the docs; tampered, expired and replayed signatures are refused by it.
 * The mTLS binding is a Cloudflare binding that can't run locally: only its call path is tested.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config/validate'
import { ORIGIN, originConfig, testGateway, type Echo } from '../helpers'

/** The same secret the test origin verifies with (test/node/origin.ts `SIGNING_SECRET`). */
const SECRET = 'test-origin-signing-secret'

function gateway(withSecret = true) {
  return testGateway(
    {
      upstreams: { origin: { url: `${ORIGIN}/signed` } },
      routes: [
        {
          id: 'r',
          match: { path: '/api/*' },
          policies: [{ type: 'origin-auth', secret: 'ORIGIN_SIGNING_SECRET' }, { type: 'transform', request: { query: { add: { via: 'gw' } } } }],
          action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api' },
        },
      ],
    },
    withSecret ? { ORIGIN_SIGNING_SECRET: SECRET } : {},
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
