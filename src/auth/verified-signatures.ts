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
 * - in at most `MAX_VERIFIED_SIGNATURES` entries, least recently used dropped first;
 * - from a token's second sighting on: a token not seen lately is verified without any of this
 *   work (`firstSighting`), since most tokens seen once are never seen again.
 *
 * Every claim check (`iss`, `aud`, `exp`/`nbf`/`iat` with the clock tolerance, `maxTokenAge`,
 * required claims) still runs on every request, by jose's own code, with the route's options and
 * the request's time (`claimsOf`); scopes and the consumer are the policy's, per request too.
 */
import { UnsecuredJWT, type JWTPayload, type JWTVerifyOptions } from 'jose'
import type { Runtime } from '../core/runtime'
import { TextMemo } from '../core/text-memo'
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

/** The token's SHA-256, as 32 char codes (short and cheap to build): with the scope, a remembered signature's key. */
async function tokenDigest(token: string): Promise<string> {
  return String.fromCharCode(...new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(token))))
}

/**
 * What a repeated token's bytes alone decide, kept so its next request neither hashes nor decodes
 * it again (together about 6% of a JWT request's samples): its SHA-256 and its `iss`. Only tokens
 * whose signature was found remembered enter, so a token seen once costs nothing here (10,000
 * distinct tokens went 7% slower when every token entered). Per isolate, at most 256 KiB of
 * tokens held.
 */
const repeated = new TextMemo<{ digest: string; iss: string | undefined }>(256 * 1024)

/**
 * Fingerprints of tokens seen lately, one slot each (as many slots as signatures remembered): a
 * token whose fingerprint is not in its slot is seen for the first time, or not lately, and is
 * verified as if nothing were remembered. Hashing, looking up and remembering a token that never
 * comes back cost 10,000 distinct tokens 3-6% of their requests a second; now a token pays that
 * from its second request, and is verified once more than it would otherwise be. The fingerprint only
 * decides whether to look: a collision (or a client's token made to collide) sends a token to the
 * lookup early, or costs it one more verification, never an unchecked signature.
 */
const sightings = new Int32Array(MAX_VERIFIED_SIGNATURES)
const SIGHTING_CHARS = 16

/** Whether the token is new to its slot (and now there); its signature's last characters are random enough to pick it. */
function firstSighting(token: string): boolean {
  let hash = 0
  for (let i = Math.max(0, token.length - SIGHTING_CHARS); i < token.length; i++) hash = (Math.imul(hash, 31) + token.charCodeAt(i)) | 0
  // Never 0, which marks an empty slot.
  const fingerprint = hash | 1
  const slot = (fingerprint >>> 0) % MAX_VERIFIED_SIGNATURES
  if (sightings[slot] === fingerprint) return false
  sightings[slot] = fingerprint
  return true
}

/** The `iss` of a token whose signature this isolate found remembered lately; undefined otherwise. */
export function issuerOfRepeated(token: string): string | undefined {
  return repeated.get(token)?.iss
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
  let key: string | undefined
  if (scope !== undefined) {
    const known = repeated.get(token)
    if (known === undefined && firstSighting(token)) return verify({})
    const digest = known?.digest ?? (await tokenDigest(token))
    key = scope + digest
    const version = rememberedVersion(key, runtime.now())
    if (version !== undefined && version === (remote ? await remote.version(runtime) : 0)) {
      const payload = claimsOf(token, options)
      if (!known) repeated.set(token, { digest, iss: typeof payload.iss === 'string' ? payload.iss : undefined })
      return payload
    }
    if (version !== undefined) forget(key)
  }
  const seen: KeyVersionSeen = {}
  const payload = await verify(seen)
  if (key !== undefined) remember(key, seen.version ?? 0, payload, runtime.now())
  return payload
}
