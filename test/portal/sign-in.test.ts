/**
 * Signing in to the developer portal against the local issuer's authorization code flow: the
 * redirect carries state, nonce and an S256 PKCE challenge; the callback refuses a wrong state, a
 * wrong nonce, a code redeemed without the flow's verifier and forged cookies; the cookies are
 * HttpOnly, Secure, SameSite=Lax and scoped to the portal; the first sign-in creates a consumer.
 */
import { base64url } from 'jose'
import { describe, expect, it } from 'vitest'
import { stoppedClock } from '../support/runtime'
import { ADMIN, authorizeAt, callback, cookieOf, newTenant, portalGateway, setCookies, setUser, signIn, startSignIn } from './helpers'

const payloadOf = (cookie: string) => JSON.parse(new TextDecoder().decode(base64url.decode(cookie.split('=')[1]!.split('.')[0]!)))

describe('portal sign-in', () => {
  it('redirects to the issuer with state, nonce and an S256 challenge of the verifier it keeps', async () => {
    const gw = portalGateway(newTenant())
    const { res, authorize, loginCookie } = await startSignIn(gw)
    const q = Object.fromEntries(authorize.searchParams)
    expect(q).toMatchObject({ response_type: 'code', client_id: 'portal-test', redirect_uri: 'http://gateway.test/portal/auth/callback', scope: 'openid email', code_challenge_method: 'S256' })
    const login = payloadOf(loginCookie)
    expect(q.state).toBe(login.state)
    expect(q.nonce).toBe(login.nonce)
    expect(login.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(login.verifier)))
    expect(q.code_challenge).toBe(base64url.encode(digest))
    // A second sign-in gets its own state, nonce and verifier.
    const again = payloadOf((await startSignIn(gw)).loginCookie)
    expect([again.state, again.nonce, again.verifier]).not.toContain(login.state)
    expect(setCookies(res)[0]).toMatch(/^edgeway_portal_login=[^;]+; Path=\/portal\/auth\/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$/)
    expect(res.headers.get('cache-control')).toBe('no-store')
  })

  it('ends in a session cookie (HttpOnly, Secure, SameSite=Lax, the portal\'s path) and a consumer with the default plan', async () => {
    const tenant = newTenant()
    const gw = portalGateway(tenant)
    await setUser(tenant, { sub: 'ada', email: 'ada@example.com' })
    const { authorize, loginCookie } = await startSignIn(gw)
    const res = await callback(gw, await authorizeAt(authorize), loginCookie)
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/portal/#keys')
    const [clearLogin, session] = setCookies(res)
    expect(clearLogin).toBe('edgeway_portal_login=; Path=/portal/auth/; Max-Age=0; HttpOnly; Secure; SameSite=Lax')
    expect(session).toMatch(/^edgeway_portal=[^;]+; Path=\/portal; Max-Age=28800; HttpOnly; Secure; SameSite=Lax$/)
    const me = await gw.fetch('/portal/auth/session', { headers: { cookie: cookieOf(res, 'edgeway_portal') } })
    const who = (await me.json()) as { consumer: string; email: string; plan: string; approved: boolean }
    expect(who).toMatchObject({ email: 'ada@example.com', plan: 'free', approved: true })
    expect(who.consumer).toMatch(/^dev-[0-9a-f]{16}$/)
    const stored = await gw.fetch(`/_edgeway/consumers/${who.consumer}`, { headers: ADMIN })
    expect(await stored.json()).toMatchObject({ id: who.consumer, plan: 'free', metadata: { subject: 'ada', email: 'ada@example.com' } })
    // The same developer again: the same consumer, not a second one.
    const again = await signIn(gw, tenant, { sub: 'ada', email: 'ada@example.com' })
    expect(((await (await gw.fetch('/portal/auth/session', { headers: { cookie: again } })).json()) as { consumer: string }).consumer).toBe(who.consumer)
  })

  it('refuses an answer whose state is not the one this browser started with', async () => {
    const gw = portalGateway(newTenant())
    const { authorize, loginCookie } = await startSignIn(gw)
    const res = await callback(gw, await authorizeAt(authorize, { state: 'someone-elses-state' }), loginCookie)
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toContain('application/problem+json')
    expect(((await res.json()) as { detail: string }).detail).toMatch(/\(state\)/)
    expect(setCookies(res)).toEqual([])
    // Without the login cookie (another browser), the right state is refused too.
    const { authorize: second } = await startSignIn(gw)
    expect((await callback(gw, await authorizeAt(second), '')).status).toBe(400)
  })

  it('refuses an ID token issued for another sign-in (nonce)', async () => {
    const gw = portalGateway(newTenant())
    const { authorize, loginCookie } = await startSignIn(gw)
    const res = await callback(gw, await authorizeAt(authorize, { nonce: 'a-replayed-nonce' }), loginCookie)
    expect(res.status).toBe(401)
    expect(((await res.json()) as { detail: string }).detail).toMatch(/\(nonce\)/)
    expect(setCookies(res)).toEqual([])
  })

  it('a code obtained with another PKCE challenge is not redeemed with this flow\'s verifier', async () => {
    const gw = portalGateway(newTenant())
    const { authorize, loginCookie } = await startSignIn(gw)
    const res = await callback(gw, await authorizeAt(authorize, { code_challenge: base64url.encode(new Uint8Array(32)) }), loginCookie)
    expect(res.status).toBe(401)
    expect(((await res.json()) as { detail: string }).detail).toMatch(/did not redeem the sign-in code: HTTP 400/)
  })

  it('a forged or altered cookie is no sign-in and no session', async () => {
    const gw = portalGateway(newTenant())
    const { authorize, loginCookie } = await startSignIn(gw)
    const [name, value] = loginCookie.split('=') as [string, string]
    const [payload, mac] = value.split('.') as [string, string]
    const changed = base64url.encode(JSON.stringify({ ...payloadOf(loginCookie), state: 'chosen' }))
    expect((await callback(gw, await authorizeAt(authorize, { state: 'chosen' }), `${name}=${changed}.${mac}`)).status).toBe(400)
    expect((await callback(gw, await authorizeAt(authorize), `${name}=${payload}.${mac.slice(1)}A`)).status).toBe(400)
    // A login cookie is not a session cookie, though both are signed with the same secret.
    expect((await gw.fetch('/portal/keys', { headers: { cookie: `edgeway_portal=${value}` } })).status).toBe(401)
    expect((await gw.fetch('/portal/keys')).status).toBe(401)
  })

  it('a session ends after sessionHours, a sign-in left open after 10 minutes, and with its consumer', async () => {
    const tenant = newTenant()
    const clock = stoppedClock()
    const gw = portalGateway(tenant, { sessionHours: 1 }, { runtime: clock })
    const cookie = await signIn(gw, tenant)
    const keys = () => gw.fetch('/portal/keys', { headers: { cookie } })
    clock.move(3600_000 - 1000)
    expect((await keys()).status).toBe(200)
    clock.move(1000)
    expect((await keys()).status).toBe(401)

    const { authorize, loginCookie } = await startSignIn(gw)
    const back = await authorizeAt(authorize)
    clock.move(600_000)
    expect((await callback(gw, back, loginCookie)).status).toBe(400)

    const again = portalGateway(tenant)
    const session = await signIn(again, tenant)
    const { consumer } = (await (await again.fetch('/portal/auth/session', { headers: { cookie: session } })).json()) as { consumer: string }
    expect((await again.fetch(`/_edgeway/consumers/${consumer}`, { method: 'DELETE', headers: ADMIN })).status).toBe(200)
    expect((await again.fetch('/portal/keys', { headers: { cookie: session } })).status).toBe(401)
  })

  it('without its session secret, sign-in is a 503 naming the secret', async () => {
    const tenant = newTenant()
    const gw = portalGateway(tenant, { sessionSecret: 'NO_SUCH_SECRET' })
    const res = await gw.fetch('/portal/auth/login')
    expect(res.status).toBe(503)
    expect(((await res.json()) as { detail: string }).detail).toBe('The portal\'s Worker secret "NO_SUCH_SECRET" is not set (at least 32 bytes).')
  })
})
