/**
 * @module
 * Signing in to the developer portal (`gateway.portal.signIn`): the OpenID Connect authorization
 * code flow with PKCE (S256), `state` and `nonce` checked, and the session cookie it ends in.
 *
 *   GET  <portal>/auth/login     302 to the issuer's authorization endpoint, with a login cookie
 *                                holding state, nonce and the PKCE verifier (10 minutes, signed)
 *   GET  <portal>/auth/callback  state checked against the login cookie, the code exchanged (with
 *                                the verifier) at the token endpoint, the ID token verified (jose:
 *                                signature by the issuer's keys, `iss`, `aud` = client id, `exp`)
 *                                and its `nonce` checked; the developer's consumer is created on
 *                                the first sign-in; then the session cookie, 303 to the portal
 *   POST <portal>/auth/logout    the cookie removed (204)
 *
 * Both cookies are HMAC-SHA256-signed with the `sessionSecret` Worker secret, HttpOnly, Secure,
 * SameSite=Lax (the issuer's redirect back is a cross-site top-level GET, which Lax lets through),
 * and scoped to the portal's path, so no route's upstream ever receives them. The session names
 * the developer's consumer: `dev-` and 16 hex digits of SHA-256 over issuer and subject, so no
 * developer can take the name of a configured consumer or of another developer.
 */
import type { Context } from 'hono'
import { getCookie } from 'hono/cookie'
import { base64url } from 'jose'
import * as v from 'valibot'
import type { AppEnv } from '../core/context'
import { sha256Hex } from '../core/encoding'
import type { Env } from '../core/env'
import { GatewayError } from '../core/errors'
import type { Runtime } from '../core/runtime'
import { interpolateVars } from '../upstream/upstream'
import { readConsumer, writeConsumer, type StoredConsumer } from './consumer-store'
import { FetchJsonError, fetchJson, keyUrlProblem } from './fetch-json'
import { compileIssuer, IssuerSchema } from './issuer'
import { discoveryUrlFor } from './oidc'
import type { PortalSignIn } from './portal-schema'

export const SESSION_COOKIE = 'edgeway_portal'
const LOGIN_COOKIE = 'edgeway_portal_login'
const LOGIN_SECONDS = 600
const FETCH_TIMEOUT_MS = 5000
const MAX_DOCUMENT_BYTES = 65_536

/** What the session cookie says: the consumer, the developer's e-mail, the expiry (seconds). */
export type PortalSession = { consumer: string; email?: string | undefined; expires: number }
type LoginState = { state: string; nonce: string; verifier: string; expires: number }

const encoder = new TextEncoder()
const randomToken = () => base64url.encode(crypto.getRandomValues(new Uint8Array(32)))

/**
 * HMAC keys by secret text. Per isolate: a key depends on the secret alone, so a reload changes
 * nothing; a rotated secret is a new entry (and the map is cleared past a few).
 */
const keys = new Map<string, CryptoKey>()

async function macKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret)
  if (!key) {
    key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
    if (keys.size > 4) keys.clear()
    keys.set(secret, key)
  }
  return key
}

/** `<payload>.<mac>`; the MAC covers the cookie's purpose too, so a login cookie is never a session. */
async function sign(secret: string, purpose: string, value: object): Promise<string> {
  const payload = base64url.encode(JSON.stringify(value))
  const mac = await crypto.subtle.sign('HMAC', await macKey(secret), encoder.encode(`${purpose}.${payload}`))
  return `${payload}.${base64url.encode(new Uint8Array(mac))}`
}

/** The signed value, or undefined when it is missing, forged, malformed or expired. */
async function unsign<T extends { expires: number }>(secret: string, purpose: string, text: string | undefined, nowMs: number): Promise<T | undefined> {
  const [payload, mac, extra] = (text ?? '').split('.')
  if (!payload || !mac || extra !== undefined) return undefined
  try {
    if (!(await crypto.subtle.verify('HMAC', await macKey(secret), base64url.decode(mac), encoder.encode(`${purpose}.${payload}`)))) return undefined
    const value = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as T
    return typeof value.expires === 'number' && value.expires * 1000 > nowMs ? value : undefined
  } catch {
    return undefined
  }
}

function cookie(name: string, value: string, path: string, maxAge: number): string {
  return `${name}=${value}; Path=${path}; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Lax`
}

type Endpoints = { authorization: string; token: string }

/** The issuer's endpoints from its discovery document, whose `issuer` must be the configured one. */
async function discoverEndpoints(issuer: string, runtime: Runtime): Promise<Endpoints> {
  const doc = (await fetchJson(discoveryUrlFor(issuer), MAX_DOCUMENT_BYTES, FETCH_TIMEOUT_MS, runtime)) as Record<string, unknown> | null
  if (doc?.issuer !== issuer) throw new FetchJsonError('the discovery document names another issuer')
  const { authorization_endpoint: authorization, token_endpoint: token } = doc
  if (typeof authorization !== 'string' || typeof token !== 'string') throw new FetchJsonError('the discovery document has no authorization or token endpoint')
  const problem = keyUrlProblem(authorization) ?? keyUrlProblem(token)
  if (problem) throw new FetchJsonError(`an endpoint ${problem}`)
  return { authorization, token }
}

const unavailable = (detail: string) => new GatewayError('ERR_AUTH_UNAVAILABLE', { detail })
const refused = (detail: string) => new GatewayError('ERR_UNAUTHORIZED', { detail, headers: { 'Cache-Control': 'no-store' } })

export type PortalSignInFlow = ReturnType<typeof portalSignIn>

/** The sign-in flow for one config: the issuer's verifier and endpoints are built once, on first use. */
export function portalSignIn(base: string, settings: PortalSignIn, env: Env, kv: () => KVNamespace) {
  const at = 'gateway.portal.signIn'
  const issuerConfig = v.parse(IssuerSchema, { issuer: settings.issuer, discovery: true, audience: settings.clientId, requiredClaims: ['exp', 'sub', 'nonce'] })
  const verifier = compileIssuer(issuerConfig, env, at)
  let endpoints: Endpoints | undefined
  const secretOf = (name: string, minBytes: number) => {
    const value = env[name]
    if (typeof value !== 'string' || encoder.encode(value).byteLength < minBytes) throw unavailable(`The portal's Worker secret "${name}" is not set${minBytes > 1 ? ` (at least ${minBytes} bytes)` : ''}.`)
    return value
  }
  const sessionSecret = () => secretOf(settings.sessionSecret, 32)
  const endpointsOf = async (runtime: Runtime) => {
    try {
      return (endpoints ??= await discoverEndpoints(interpolateVars(settings.issuer, env, `${at}.issuer`), runtime))
    } catch (err) {
      throw unavailable(`The sign-in issuer cannot be reached: ${(err as Error).message}.`)
    }
  }
  const callbackUrl = (c: Context<AppEnv>) => `${new URL(c.req.url).origin}${base}/auth/callback`

  /** The ID token for a code, from the token endpoint (the PKCE verifier proves this is our flow). */
  async function redeem(c: Context<AppEnv>, code: string, login: LoginState): Promise<string> {
    const runtime = c.get('runtime')
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callbackUrl(c), client_id: settings.clientId, code_verifier: login.verifier })
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
    // RFC 6749 2.3.1: id and secret form-encoded, then Basic.
    if (settings.clientSecret) headers.authorization = `Basic ${btoa(`${encodeURIComponent(settings.clientId)}:${encodeURIComponent(secretOf(settings.clientSecret, 1))}`)}`
    let answer: unknown
    try {
      answer = await fetchJson((await endpointsOf(runtime)).token, MAX_DOCUMENT_BYTES, FETCH_TIMEOUT_MS, runtime, { method: 'POST', headers, body: form })
    } catch (err) {
      if (err instanceof GatewayError) throw err
      throw refused(`The issuer did not redeem the sign-in code: ${(err as Error).message}.`)
    }
    const idToken = (answer as { id_token?: unknown } | null)?.id_token
    if (typeof idToken !== 'string') throw refused('The issuer\'s token response has no ID token.')
    return idToken
  }

  /** The developer's consumer, created (with the default plan) at the first sign-in. */
  async function consumerFor(issuer: string, subject: string, email: string | undefined, now: number): Promise<StoredConsumer> {
    const id = `dev-${await sha256Hex(`${issuer}\n${subject}`, 8)}`
    const existing = await readConsumer(kv(), id)
    if (existing) return existing
    const at = new Date(now).toISOString()
    const metadata = { subject, ...(email !== undefined && { email }), ...(settings.requireApproval && { approved: false }) }
    const consumer: StoredConsumer = { id, ...(settings.plan !== undefined && { plan: settings.plan }), metadata, createdAt: at, updatedAt: at }
    await writeConsumer(kv(), consumer)
    return consumer
  }

  return {
    /** `GET <portal>/auth/login` */
    async login(c: Context<AppEnv>) {
      const secret = sessionSecret()
      const runtime = c.get('runtime')
      const login: LoginState = { state: randomToken(), nonce: randomToken(), verifier: randomToken(), expires: Math.floor(runtime.now() / 1000) + LOGIN_SECONDS }
      const challenge = base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(login.verifier))))
      const target = new URL((await endpointsOf(runtime)).authorization)
      const query = { response_type: 'code', client_id: settings.clientId, redirect_uri: callbackUrl(c), scope: settings.scopes.join(' '), state: login.state, nonce: login.nonce, code_challenge: challenge, code_challenge_method: 'S256' }
      for (const [name, value] of Object.entries(query)) target.searchParams.set(name, value)
      c.header('Set-Cookie', cookie(LOGIN_COOKIE, await sign(secret, 'login', login), `${base}/auth/`, LOGIN_SECONDS))
      c.header('Cache-Control', 'no-store')
      return c.redirect(target.href, 302)
    },

    /** `GET <portal>/auth/callback?code=&state=` */
    async callback(c: Context<AppEnv>) {
      const secret = sessionSecret()
      const now = c.get('runtime').now()
      const login = await unsign<LoginState>(secret, 'login', getCookie(c, LOGIN_COOKIE), now)
      if (!login) throw new GatewayError('ERR_BAD_REQUEST', { detail: 'No sign-in is in progress in this browser (or it took over 10 minutes): start again.' })
      const error = c.req.query('error')
      if (error !== undefined) throw refused(`The issuer refused the sign-in: ${error.slice(0, 100)}.`)
      if (c.req.query('state') !== login.state) throw new GatewayError('ERR_BAD_REQUEST', { detail: 'The sign-in answer does not match the sign-in this browser started (state).' })
      const code = c.req.query('code')
      if (!code) throw new GatewayError('ERR_BAD_REQUEST', { detail: 'The sign-in answer has no code.' })
      let claims: Awaited<ReturnType<typeof verifier.verify>>
      try {
        claims = await verifier.verify(await redeem(c, code, login), c.get('runtime'))
      } catch (err) {
        if (err instanceof GatewayError) throw err
        throw refused(`The issuer's ID token is not valid: ${(err as Error).message}.`)
      }
      if (claims.nonce !== login.nonce) throw refused('The ID token was not issued for this sign-in (nonce).')
      const email = typeof claims.email === 'string' ? claims.email : undefined
      const consumer = await consumerFor(verifier.issuer, claims.sub!, email, now)
      const session: PortalSession = { consumer: consumer.id, email, expires: Math.floor(now / 1000) + settings.sessionHours * 3600 }
      c.header('Set-Cookie', cookie(LOGIN_COOKIE, '', `${base}/auth/`, 0))
      c.header('Set-Cookie', cookie(SESSION_COOKIE, await sign(secret, 'session', session), base, settings.sessionHours * 3600), { append: true })
      c.header('Cache-Control', 'no-store')
      return c.redirect(`${base}/#keys`, 303)
    },

    /** `POST <portal>/auth/logout` */
    logout(c: Context<AppEnv>) {
      c.header('Set-Cookie', cookie(SESSION_COOKIE, '', base, 0))
      return c.body(null, 204)
    },

    /** The signed-in developer, or a 401. */
    async session(c: Context<AppEnv>): Promise<PortalSession> {
      const session = await unsign<PortalSession>(sessionSecret(), 'session', getCookie(c, SESSION_COOKIE), c.get('runtime').now())
      if (!session) throw refused('Sign in to the portal first.')
      return session
    },
  }
}
