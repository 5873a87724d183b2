/**
 * @module
 * The test kit's identity provider (`edgeway/testing`): real keys and tokens. Key pairs are
 * generated with jose inside workerd, their public halves published through the local OIDC issuer
 * the kit's global setup starts (`node/issuer-server.ts`), one issuer tenant per test, so every
 * signature the gateway checks is real and no test sees another's keys.
 *
 * @example
 * const issuer = await testIssuer()
 * const config = { type: 'jwt', issuers: [issuer.config], scopes: ['orders:read'] }
 * await gateway.fetch('/orders', await issuer.bearer({ scope: 'orders:read' }))
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'
import { serverUrl } from './servers'

/** Where the local issuer listens (the kit's global setup provides it). */
export const ISSUER_URL = serverUrl('issuerUrl')

export type TestKey = { alg: string; kid: string; privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK }

export async function newKey(alg: string, kid: string = crypto.randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) })
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

export type Stats = { jwksFetches: number; discoveryFetches: number }

/** One tenant of the test issuer: its own issuer URL, keys, failure mode and fetch counters. */
export class Tenant {
  readonly issuer: string
  readonly jwksUrl: string
  constructor(readonly name: string = crypto.randomUUID().replaceAll('-', '')) {
    this.issuer = `${ISSUER_URL}/t/${name}`
    this.jwksUrl = `${this.issuer}/jwks`
  }

  private async control(path: string, body: unknown): Promise<void> {
    const res = await fetch(`${this.issuer}/_control/${path}`, { method: 'PUT', body: JSON.stringify(body) })
    if (!res.ok) throw new Error(`issuer control ${path}: ${res.status}`)
  }
  /** Publishes these keys (and only these) in the tenant's JWKS: a rotation. */
  publish(...keys: TestKey[]): Promise<void> {
    return this.control('keys', { keys: keys.map((k) => k.jwk) })
  }
  /** How the JWKS endpoint answers: normally, 503, an oversized or a broken document, after `delayMs`. */
  mode(jwks: 'ok' | 'down' | 'huge' | 'garbage', delayMs?: number): Promise<void> {
    return this.control('mode', { jwks, delayMs })
  }
  /** The discovery document to serve instead of the tenant's own. */
  discovery(doc: unknown): Promise<void> {
    return this.control('discovery', doc)
  }
  async stats(): Promise<Stats> {
    return (await fetch(`${this.issuer}/_control/stats`)).json()
  }
}

export type SignOptions = {
  header?: Record<string, unknown>
  crit?: Record<string, boolean>
  /** The time the token is made at (ms since the epoch; default: now), e.g. a test clock's `now()`. */
  now?: number
}

/** A signed token with sensible defaults (iss, aud "api", sub, iat, exp in 5 minutes); `claims` override. */
export async function sign(key: TestKey | { alg: string; secret: Uint8Array; kid?: string }, issuer: string, claims: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
  const now = Math.floor((options.now ?? Date.now()) / 1000)
  const payload: JWTPayload = { iss: issuer, aud: 'api', sub: 'user-1', iat: now, exp: now + 300, ...claims }
  for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name]
  const header = { alg: key.alg, ...(key.kid !== undefined && { kid: key.kid }), ...options.header }
  const signingKey = 'secret' in key ? key.secret : key.privateKey
  return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(signingKey, options.crit ? { crit: options.crit } : undefined)
}

export const b64url = (text: string) => btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')

/** An unsigned token: `{alg:"none"}`. */
export function unsecured(issuer: string, claims: JWTPayload = {}): string {
  const now = Math.floor(Date.now() / 1000)
  return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ iss: issuer, aud: 'api', sub: 'user-1', exp: now + 300, ...claims }))}.`
}

/** Request options carrying `token` as a bearer token. */
export const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })

export type TestIssuer = {
  /** The `iss` of its tokens. */
  issuer: string
  jwksUrl: string
  /** An entry for a `jwt` policy's `issuers` that trusts this issuer (audience `api`, as its tokens). */
  config: { issuer: string; jwksUrl: string; audience: string }
  /** The tenant: rotation (`publish`), failure modes, fetch counters. */
  tenant: Tenant
  /** The key it signs with (published). */
  key: TestKey
  /** A token with `claims` over the defaults (sub `user-1`, aud `api`, 5 minutes), made at the clock's time. */
  token(claims?: JWTPayload, options?: SignOptions): Promise<string>
  /** `{ headers: { authorization: 'Bearer ...' } }` for such a token: spread into a request's options. */
  bearer(claims?: JWTPayload, options?: SignOptions): Promise<{ headers: { authorization: string } }>
}

/**
 * A fresh issuer of its own on the local OIDC provider, with a published `alg` key (default ES256).
 * `clock`: the tokens are made at its time (the test's runtime), so they stay valid as it moves.
 */
export async function testIssuer(options: { alg?: string; clock?: { now(): number } } = {}): Promise<TestIssuer> {
  const tenant = new Tenant()
  const key = await newKey(options.alg ?? 'ES256')
  await tenant.publish(key)
  const token = (claims: JWTPayload = {}, signOptions: SignOptions = {}) => sign(key, tenant.issuer, claims, { now: options.clock?.now(), ...signOptions })
  return {
    issuer: tenant.issuer,
    jwksUrl: tenant.jwksUrl,
    config: { issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' },
    tenant,
    key,
    token,
    bearer: async (claims, signOptions) => bearer(await token(claims, signOptions)),
  }
}
