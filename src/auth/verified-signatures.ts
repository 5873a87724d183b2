/**
 * @module
 * Token signatures this isolate has already verified. Clients send the same bearer token on
 * request after request, and checking its signature (ES256, RS256...) is most of what a `jwt`
 * policy costs; the answer for the same bytes and the same keys never changes. So a signature that
 * verified is remembered, and only the signature:
 *
 * - keyed by the SHA-256 of the whole token (header, payload and signature: a changed byte is
 *   another token) and the issuer's signature scope (`signatureScope`): what decides whether the
 *   signature is good, its keys and allowed algorithms, never its claim options;
 * - for one version of a remote key set (`RemoteKeySet.version`): a JWKS that gained or lost a key
 *   forgets, at the refresh that sees it, every signature the old set verified;
 * - never past the token's `exp`, and not at all for a token without one;
 * - in at most `MAX_VERIFIED_SIGNATURES` entries, least recently used dropped first.
 *
 * Every claim check (`iss`, `aud`, `exp`/`nbf`/`iat` with the clock tolerance, `maxTokenAge`,
 * required claims) still runs on every request, by jose's own code, with the route's options and
 * the request's time (`claimsOf`); scopes and the consumer are the policy's, per request too.
 */
import { UnsecuredJWT, type JWTPayload, type JWTVerifyOptions } from 'jose'
import type { Runtime } from '../core/runtime'
import type { KeyVersionSeen } from './key-set'
import { LruMap } from './lru'

/** Signatures remembered per isolate: about 200 bytes each, so under 1 MB in all. */
export const MAX_VERIFIED_SIGNATURES = 4_096

type Verified = { version: number; expiresAtMs: number }

/**
 * Per isolate, not per config: a token verified before a config reload is the same token after it,
 * and the scope in the key says which keys verified it (a reload changing the keys changes it).
 */
const verified = new LruMap<string, Verified>(MAX_VERIFIED_SIGNATURES)

let scopes = 0

/**
 * A scope for signatures checked with one issuer's keys. A remote key set (the isolate's, shared by
 * every route and config naming the same source) with the same algorithms is one scope, whatever
 * each route's audience or time options; static keys and HMAC secrets come from the config's
 * Worker environment, so each compiled issuer is a scope of its own.
 */
export function signatureScope(remote: { readonly id: number } | undefined, algorithms: readonly string[]): string {
  return remote ? `r${remote.id}:${algorithms.join(',')}|` : `v${++scopes}|`
}

const utf8 = new TextEncoder()

/** The remembered signature's key: the scope and the token's SHA-256 (as 32 char codes, short and cheap to build). */
async function signatureKey(scope: string, token: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(token)))
  return scope + String.fromCharCode(...digest)
}

/** The key set version the token's signature was verified with, if it was and its `exp` hasn't come. */
function rememberedVersion(key: string, nowMs: number): number | undefined {
  const entry = verified.get(key)
  if (entry === undefined) return undefined
  if (nowMs < entry.expiresAtMs) return entry.version
  verified.delete(key)
  return undefined
}

/** Remembers a verified signature until the token's `exp`; a token without a numeric `exp`, or past it, is not remembered. */
function remember(key: string, version: number, payload: JWTPayload, nowMs: number): void {
  const exp = payload.exp
  if (typeof exp === 'number' && exp * 1000 > nowMs) verified.set(key, { version, expiresAtMs: exp * 1000 })
}

/** Forgets a signature (its key set has moved on). */
function forget(key: string): void {
  verified.delete(key)
}

/** `{"alg":"none"}`: jose's unsecured JWT decoder runs the claim checks of `jwtVerify` on a payload. */
const UNSIGNED_HEADER = 'eyJhbGciOiJub25lIn0'

/**
 * The claims of a token whose signature is known good, checked exactly as `jwtVerify` checks them
 * (the same jose function, `validateClaimsSet`, with the same options and time), so a remembered
 * token is refused for the same reasons, with the same error codes, as a verified one.
 */
function claimsOf(token: string, options: JWTVerifyOptions): JWTPayload {
  const payload = token.slice(token.indexOf('.') + 1, token.lastIndexOf('.'))
  return UnsecuredJWT.decode(`${UNSIGNED_HEADER}.${payload}.`, options).payload
}

/**
 * The token's claims, checked now with `options`. Its signature is checked by `verify` (which
 * reports the key set version it used in `seen`) unless it is remembered for the key set's
 * current version; a remote key set is asked for that version (refreshed past its TTL) only for a
 * remembered token, so any other token reaches the keys exactly where `jwtVerify` would. `scope`
 * undefined: nothing is remembered.
 */
export async function verifiedClaims(
  token: string,
  options: JWTVerifyOptions,
  runtime: Runtime,
  scope: string | undefined,
  remote: { version(runtime: Runtime): Promise<number> } | undefined,
  verify: (seen: KeyVersionSeen) => Promise<JWTPayload>,
): Promise<JWTPayload> {
  const key = scope !== undefined ? await signatureKey(scope, token) : undefined
  const version = key !== undefined ? rememberedVersion(key, runtime.now()) : undefined
  if (version !== undefined && version === (remote ? await remote.version(runtime) : 0)) return claimsOf(token, options)
  if (version !== undefined) forget(key!)
  const seen: KeyVersionSeen = {}
  const payload = await verify(seen)
  if (key !== undefined) remember(key, seen.version ?? 0, payload, runtime.now())
  return payload
}
