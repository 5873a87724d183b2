/**
 * Real keys and tokens for the auth tests: key pairs generated with jose inside workerd, public
 * halves published through the test issuer (test/node/issuer.ts), one issuer tenant per test.
 */
import { env } from 'cloudflare:workers'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose'

export const ISSUER_URL = env.ISSUER_URL

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
  publish(...keys: TestKey[]): Promise<void> {
    return this.control('keys', { keys: keys.map((k) => k.jwk) })
  }
  mode(jwks: 'ok' | 'down' | 'huge' | 'garbage', delayMs?: number): Promise<void> {
    return this.control('mode', { jwks, delayMs })
  }
  discovery(doc: unknown): Promise<void> {
    return this.control('discovery', doc)
  }
  async stats(): Promise<Stats> {
    return (await fetch(`${this.issuer}/_control/stats`)).json()
  }
}

export type SignOptions = { header?: Record<string, unknown>; crit?: Record<string, boolean> }

/** A signed token with sensible defaults (iss, aud "api", sub, iat, exp in 5 minutes); `claims` override. */
export async function sign(key: TestKey | { alg: string; secret: Uint8Array; kid?: string }, issuer: string, claims: JWTPayload = {}, options: SignOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
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

export const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } })
