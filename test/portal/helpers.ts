/**
 * What the portal sign-in tests share: a gateway whose portal signs developers in with a tenant of
 * the local issuer (test/node/issuer.ts, authorization code flow), and the browser's part of the
 * flow: following the redirects and carrying the cookies.
 */
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { GatewayOptions } from '../../src/gateway/create-gateway'
import { testGateway, type TestGateway } from '../support/gateway'

export const ORIGIN = 'http://gateway.test'
export const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' }
/** What the portal's own page sends with a change. */
export const SAME_ORIGIN = { origin: ORIGIN, 'content-type': 'application/json' }

export const newTenant = () => `portal-${crypto.randomUUID().slice(0, 8)}`
export const issuerOf = (tenant: string) => `${env.ISSUER_URL}/t/${tenant}`

/** The portal config with sign-in through `tenant`; `signIn` overrides its settings. */
export function portalConfig(tenant: string, signIn: Record<string, unknown> = {}): GatewayConfigInput {
  return {
    gateway: {
      openapi: {},
      consumerStore: { kv: 'API_KEYS' },
      portal: { signIn: { issuer: issuerOf(tenant), clientId: 'portal-test', kv: 'API_KEYS', plan: 'free', ...signIn } } as never,
    },
    plans: { free: {} },
    routes: [{ id: 'partner', match: { path: '/partner' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }], action: { type: 'respond', body: { consumer: '{consumer.id}' } as never } }],
  }
}

export function portalGateway(tenant: string, signIn: Record<string, unknown> = {}, options: GatewayOptions = {}): TestGateway {
  return testGateway(portalConfig(tenant, signIn), { PORTAL_SESSION_SECRET: 'a-session-secret-of-at-least-32-bytes' }, options)
}

export const setCookies = (res: Response): string[] => (res.headers as Headers & { getSetCookie(): string[] }).getSetCookie()

/** `name=value` of the cookie `name` the response sets. */
export function cookieOf(res: Response, name: string): string {
  const line = setCookies(res).find((c) => c.startsWith(`${name}=`))
  expect(line, `Set-Cookie ${name}`).toBeDefined()
  return line!.split(';')[0]!
}

export async function setUser(tenant: string, user: { sub: string; email?: string }): Promise<void> {
  await fetch(`${issuerOf(tenant)}/_control/user`, { method: 'PUT', body: JSON.stringify(user) })
}

/** `GET /portal/auth/login`: where it sends the browser, and the login cookie it sets. */
export async function startSignIn(gw: TestGateway) {
  const res = await gw.fetch('/portal/auth/login')
  expect(res.status).toBe(302)
  return { res, authorize: new URL(res.headers.get('location')!), loginCookie: cookieOf(res, 'edgeway_portal_login') }
}

/** The issuer's answer to an authorization request (its redirect back to the portal). */
export async function authorizeAt(authorize: URL, change: Record<string, string> = {}): Promise<URL> {
  const url = new URL(authorize)
  for (const [name, value] of Object.entries(change)) url.searchParams.set(name, value)
  const res = await fetch(url, { redirect: 'manual' })
  expect(res.status).toBe(302)
  return new URL(res.headers.get('location')!)
}

export const callback = (gw: TestGateway, back: URL, cookie: string) => gw.fetch(`/portal/auth/callback${back.search}`, { headers: { cookie } })

/** The whole flow: the session cookie (`name=value`) of `user`. */
export async function signIn(gw: TestGateway, tenant: string, user = { sub: `dev-${crypto.randomUUID().slice(0, 8)}`, email: 'dev@example.com' }): Promise<string> {
  await setUser(tenant, user)
  const { authorize, loginCookie } = await startSignIn(gw)
  const res = await callback(gw, await authorizeAt(authorize), loginCookie)
  expect(res.status, await res.clone().text()).toBe(303)
  return cookieOf(res, 'edgeway_portal')
}
