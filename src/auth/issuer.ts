/**
 * @module
 * One trusted token issuer: its config schema, and its verifier compiled once per isolate. jose does
 * all verification (`jwtVerify` with an explicit algorithm list, `iss`, `aud`, time claims and
 * required claims); this file only decides which key material jose gets:
 *
 * - `jwksUrl`, or `discovery` (OIDC): a shared `RemoteKeySet` (cache, cooldown, last good keys);
 * - `keys`: public keys (JWK JSON or SPKI PEM) read from Worker secrets by name;
 * - `secret`: an HMAC secret read from a Worker secret by name, used for HS* tokens only.
 *
 * `none` is not in any list, and HS* is only allowed with a `secret`, so a token can't pick a
 * weaker algorithm (RS/HS confusion) and its own `jwk`/`jku`/`x5u` headers are never used.
 */
import { createLocalJWKSet, errors, exportJWK, importSPKI, jwtVerify, type JWK, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose'
import * as v from 'valibot'
import { Name } from '../core/schema'
import { PathString } from '../template/schema'
import type { Env } from '../core/env'
import { logEvent } from '../core/logging'
import { getPath, parsePath } from '../template/path'
import { interpolateVars } from '../upstream/upstream'
import { discoveryUrlFor } from './oidc'
import { KeysUnavailableError, remoteKeySet, type KeyVersionSeen, type RemoteKeySet } from './key-set'
import { signatureScope, verifiedClaims } from './verified-signatures'
import { systemRuntime, type Runtime } from '../core/runtime'

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const

const Seconds = (max: number) => v.pipe(v.number(), v.integer('must be whole seconds'), v.minValue(0), v.maxValue(max))

export const IssuerSchema = v.strictObject({
  issuer: v.pipe(v.string(), v.minLength(1), v.description(SCHEMA_DOCS ? 'The exact `iss` value; `${VAR}` is replaced by a Worker variable.' : '')),
  discovery: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Find the keys through OIDC discovery (`<issuer>/.well-known/openid-configuration`).' : '')),
  discoveryUrl: v.pipe(v.optional(v.string()), v.description(SCHEMA_DOCS ? 'Another discovery document URL (with `discovery`).' : '')),
  jwksUrl: v.pipe(v.optional(v.string()), v.description(SCHEMA_DOCS ? 'The issuer\'s JWKS URL (https; http only on loopback).' : '')),
  keys: v.pipe(
    v.optional(v.array(v.strictObject({ secret: Name, alg: v.optional(v.picklist(ASYMMETRIC_ALGORITHMS)), kid: v.optional(v.string()) }))),
    v.description(SCHEMA_DOCS ? 'Static public keys: names of Worker secrets holding a JWK (JSON) or an SPKI PEM (PEM needs `alg`).' : ''),
  ),
  secret: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Name of the Worker secret holding the HMAC key (at least 32 bytes) for HS* tokens.' : '')),
  algorithms: v.pipe(
    v.optional(v.pipe(v.array(v.picklist([...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS])), v.minLength(1))),
    v.description(SCHEMA_DOCS ? 'Allowed `alg` values (default: the asymmetric ones; HS256 for a secret-only issuer). `none` is never allowed.' : ''),
  ),
  audience: v.pipe(v.optional(v.union([v.string(), v.pipe(v.array(v.string()), v.minLength(1))])), v.description(SCHEMA_DOCS ? 'Accepted `aud` values (one must match).' : '')),
  clockTolerance: v.pipe(v.optional(Seconds(300), 30), v.description(SCHEMA_DOCS ? 'Seconds of clock skew allowed for `exp`, `nbf` and `iat` (an `iat` further in the future is refused).' : '')),
  maxTokenAge: v.pipe(v.optional(Seconds(31_536_000)), v.description(SCHEMA_DOCS ? 'Reject tokens whose `iat` is older than this many seconds.' : '')),
  requiredClaims: v.pipe(v.optional(v.array(v.string()), ['exp']), v.description(SCHEMA_DOCS ? 'Claims that must be present (default: `exp`).' : '')),
  consumerClaim: v.pipe(
    v.optional(PathString),
    v.description(SCHEMA_DOCS ? 'Claim naming the consumer (default: `sub`, else `client_id`); a token without it is refused unless the policy sets `requireConsumer: false`.' : ''),
  ),
  cache: v.optional(
    v.strictObject({
      ttl: v.pipe(v.optional(Seconds(86_400), 600), v.description(SCHEMA_DOCS ? 'Seconds keys are used before a refresh.' : '')),
      cooldown: v.pipe(
        v.optional(v.pipe(Seconds(3_600), v.minValue(1)), 5),
        v.description(SCHEMA_DOCS ? 'Least seconds between two fetches: how long an unknown `kid` waits for the next refetch (single-flight per isolate).' : ''),
      ),
      maxStale: v.pipe(v.optional(Seconds(604_800), 3_600), v.description(SCHEMA_DOCS ? 'Seconds expired keys are still used while the endpoint fails.' : '')),
      maxBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1_024), v.maxValue(1_048_576)), 65_536), v.description(SCHEMA_DOCS ? 'Size cap of a JWKS or discovery response.' : '')),
      timeout: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(30_000)), 2_000), v.description(SCHEMA_DOCS ? 'Milliseconds to wait for the identity provider.' : '')),
    }),
    {},
  ),
})
export type IssuerConfig = v.InferOutput<typeof IssuerSchema>

/** Config-time checks an issuer's schema can't express; `report(field, message)`. */
export function checkIssuer(issuer: IssuerConfig, report: (field: string, message: string) => void, urlProblem: (url: string) => string | undefined): void {
  const sources = [issuer.discovery && 'discovery', issuer.jwksUrl !== undefined && 'jwksUrl', issuer.keys !== undefined && 'keys'].filter(Boolean)
  if (sources.length > 1) report('', `set only one of "discovery", "jwksUrl" or "keys" (found: ${sources.join(', ')})`)
  if (sources.length === 0 && issuer.secret === undefined) report('', 'needs a key source: "discovery", "jwksUrl", "keys" or "secret"')
  if (issuer.discoveryUrl !== undefined && !issuer.discovery) report('.discoveryUrl', 'only used with "discovery": true')
  const algorithms = algorithmsOf(issuer)
  const hmac = algorithms.filter((alg) => alg.startsWith('HS'))
  if (hmac.length > 0 && issuer.secret === undefined) report('.algorithms', `${hmac.join(', ')} needs "secret" (the name of a Worker secret)`)
  if (issuer.secret !== undefined && hmac.length === 0) report('.secret', 'is set but "algorithms" allows no HS* algorithm')
  if (sources.length > 0 && hmac.length === algorithms.length) report('.algorithms', 'allows no asymmetric algorithm for the configured keys')
  for (const field of ['jwksUrl', 'discoveryUrl'] as const) {
    const url = issuer[field]
    if (url !== undefined && !url.includes('${')) {
      const problem = urlProblem(url)
      if (problem) report(`.${field}`, problem)
    }
  }
  if (issuer.discovery && issuer.discoveryUrl === undefined && !issuer.issuer.includes('${')) {
    const problem = urlProblem(issuer.issuer)
    if (problem) report('.issuer', `with "discovery", ${problem}`)
  }
}

export function algorithmsOf(issuer: IssuerConfig): string[] {
  if (issuer.algorithms) return issuer.algorithms
  const onlySecret = issuer.secret !== undefined && !issuer.discovery && issuer.jwksUrl === undefined && issuer.keys === undefined
  return onlySecret ? ['HS256'] : [...ASYMMETRIC_ALGORITHMS]
}

/** Worst-case subrequests one verification makes: a discovery document and a key set. */
export function issuerSubrequests(issuer: IssuerConfig): number {
  return issuer.discovery ? 2 : issuer.jwksUrl !== undefined ? 1 : 0
}

/** Most keys tried for one token that matches several keys (no `kid`): a bad token costs at most this many verifications. */
const MAX_CANDIDATES = 16

/**
 * jose leaves a token that matches several keys (no `kid`, several keys of its `alg`) to the
 * caller: its `JWKSMultipleMatchingKeys` error iterates over the candidates. Each is tried in
 * turn; only a bad signature moves on, any other failure (expired...) is the token's answer.
 */
async function verifyWithCandidates(token: string, candidates: AsyncIterable<CryptoKey>, options: JWTVerifyOptions): Promise<JWTPayload> {
  let tried = 0
  for await (const key of candidates) {
    if (++tried > MAX_CANDIDATES) break
    try {
      return (await jwtVerify(token, key, options)).payload
    } catch (err) {
      if (!(err instanceof errors.JWSSignatureVerificationFailed)) throw err
    }
  }
  throw new errors.JWSSignatureVerificationFailed()
}

export type IssuerVerifier = {
  issuer: string
  /** Set when `issuer` names a Worker variable that isn't set: no token can be matched to it. */
  unresolved?: string | undefined
  /** Seconds a client should wait after a 503 (the fetch cooldown). */
  retryAfter: number
  /** Verifies at the runtime's `now()` (`exp`, `nbf`, `iat`), with keys fetched on its clock. */
  verify(token: string, runtime?: Runtime): Promise<JWTPayload>
  consumerOf(payload: JWTPayload): string | undefined
  /** The claim `consumerOf` reads, as a client is told when it is missing (`"sub" or "client_id"`). */
  consumerClaim: string
  remote: RemoteKeySet | undefined
}

function secretOf(env: Env, name: string): string {
  const value = env[name]
  if (typeof value !== 'string' || value === '') throw new KeysUnavailableError(`Worker secret "${name}" is not set`)
  return value
}

async function staticKeySet(issuer: IssuerConfig, env: Env, algorithms: string[]): Promise<JWTVerifyGetKey> {
  const jwks: JWK[] = []
  for (const entry of issuer.keys ?? []) {
    const text = secretOf(env, entry.secret).trim()
    let jwk: JWK
    if (text.startsWith('{')) {
      jwk = JSON.parse(text) as JWK
      if (jwk.d !== undefined || jwk.k !== undefined) throw new KeysUnavailableError(`secret "${entry.secret}" holds a private or symmetric key`)
    } else {
      const alg = entry.alg ?? (algorithms.length === 1 ? algorithms[0] : undefined)
      if (alg === undefined) throw new KeysUnavailableError(`the PEM key in "${entry.secret}" needs "alg"`)
      jwk = { ...(await exportJWK(await importSPKI(text, alg, { extractable: true }))), alg }
    }
    if (entry.kid !== undefined) jwk.kid = entry.kid
    if (entry.alg !== undefined) jwk.alg = entry.alg
    jwks.push(jwk)
  }
  return createLocalJWKSet({ keys: jwks })
}

/** What an issuer resolves to once the Worker's variables are known. */
type IssuerSetup = {
  /** The exact `iss` tokens must carry (`${VAR}`s replaced; the configured text if that failed). */
  iss: string
  /** Set when the issuer itself names an unset variable (see `IssuerVerifier.unresolved`). */
  unresolved: string | undefined
  /** Why no token can be verified with this issuer (logged once as `auth_issuer_unusable`). */
  setupError: string | undefined
  /** The key set fetched from `jwksUrl` or discovery, if the issuer has one. */
  remote: RemoteKeySet | undefined
}

/**
 * Resolves the issuer's `${VAR}`s and builds its remote key set. A failure doesn't throw: it is
 * logged and kept, so the issuer answers every token with 503 instead of failing the config.
 */
function setUpIssuer(issuer: IssuerConfig, env: Env, at: string): IssuerSetup {
  let iss = issuer.issuer
  let setupError: string | undefined
  let unresolved: string | undefined
  let remote: RemoteKeySet | undefined
  try {
    try {
      iss = interpolateVars(issuer.issuer, env, `${at}.issuer`)
    } catch (err) {
      unresolved = `${at}.issuer: ${(err as Error).message}`
      throw err
    }
    const options = {
      ttlMs: issuer.cache.ttl * 1000,
      cooldownMs: issuer.cache.cooldown * 1000,
      maxStaleMs: issuer.cache.maxStale * 1000,
      maxBytes: issuer.cache.maxBytes,
      timeoutMs: issuer.cache.timeout,
    }
    if (issuer.jwksUrl !== undefined) remote = remoteKeySet({ jwksUrl: interpolateVars(issuer.jwksUrl, env, `${at}.jwksUrl`) }, options)
    else if (issuer.discovery) {
      const discoveryUrl = issuer.discoveryUrl !== undefined ? interpolateVars(issuer.discoveryUrl, env, `${at}.discoveryUrl`) : discoveryUrlFor(iss)
      remote = remoteKeySet({ issuer: iss, discoveryUrl }, options)
    }
  } catch (err) {
    setupError = (err as Error).message
    logEvent('auth_issuer_unusable', { at, error: setupError })
  }
  return { iss, unresolved, setupError, remote }
}

/**
 * The key for a token's header: the HMAC secret for `HS*`, else the remote key set, else the
 * static keys. Secrets and static keys are read on first use, so a missing one is a 503 then.
 */
type KeyResolver = (header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1], runtime: Runtime, seen: KeyVersionSeen) => Promise<Awaited<ReturnType<JWTVerifyGetKey>>>

function keyResolver(issuer: IssuerConfig, env: Env, algorithms: string[], remote: RemoteKeySet | undefined): KeyResolver {
  // Per config (this verifier is built by the jwt policy's factory): keys from the config and the
  // Worker's secrets, built on first use; remote keys are the isolate's (`remoteKeySet`).
  let hmacKey: Uint8Array | undefined
  let staticKeys: JWTVerifyGetKey | undefined
  return async (header, token, runtime, seen) => {
    if (typeof header.alg === 'string' && header.alg.startsWith('HS')) {
      if (!hmacKey) {
        const bytes = new TextEncoder().encode(secretOf(env, issuer.secret!))
        if (bytes.byteLength < 32) throw new KeysUnavailableError(`Worker secret "${issuer.secret}" is shorter than 32 bytes`)
        hmacKey = bytes
      }
      return hmacKey
    }
    if (remote) return remote.getKey(header, token, runtime, seen)
    if (!staticKeys) {
      try {
        staticKeys = await staticKeySet(issuer, env, algorithms)
      } catch (err) {
        throw err instanceof KeysUnavailableError ? err : new KeysUnavailableError(`static keys: ${(err as Error).message}`)
      }
    }
    return staticKeys(header, token)
  }
}

/**
 * jose checks `iat` against the clock only with `maxTokenAge`; a token "issued" far in the future
 * would otherwise outlive every age limit set later. Beyond the clock tolerance it is refused.
 */
function rejectFutureIat(payload: JWTPayload, nowMs: number, toleranceSeconds: number): void {
  if (typeof payload.iat === 'number' && payload.iat > Math.floor(nowMs / 1000) + toleranceSeconds) {
    throw new errors.JWTClaimValidationFailed('"iat" claim timestamp check failed (it should be in the past)', payload, 'iat', 'check_failed')
  }
}

export function compileIssuer(issuer: IssuerConfig, env: Env, at: string): IssuerVerifier {
  const algorithms = algorithmsOf(issuer)
  const consumerPath = issuer.consumerClaim !== undefined ? parsePath(issuer.consumerClaim) : undefined
  const { iss, unresolved, setupError, remote } = setUpIssuer(issuer, env, at)
  const getKey = keyResolver(issuer, env, algorithms, remote)

  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    issuer: iss,
    audience: issuer.audience,
    clockTolerance: issuer.clockTolerance,
    maxTokenAge: issuer.maxTokenAge,
    requiredClaims: issuer.requiredClaims,
  }
  // A signature checked with a remote key set and an HMAC secret depends on the token's `alg`;
  // such an issuer (rare) verifies every time rather than tie a secret's tokens to the JWKS.
  const scope = remote && issuer.secret !== undefined ? undefined : signatureScope(remote, algorithms)

  /** The token's signature and claims checked by `jwtVerify`; `seen` gets the key set version used. */
  async function verifySignature(token: string, options: JWTVerifyOptions, runtime: Runtime, seen: KeyVersionSeen): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, (header, input) => getKey(header, input, runtime, seen), options)).payload
    } catch (err) {
      // Both key sources (remote and static) end here: a set built by jose's createLocalJWKSet.
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err
      return verifyWithCandidates(token, err, options)
    }
  }

  return {
    issuer: iss,
    unresolved,
    retryAfter: issuer.cache.cooldown,
    remote,
    async verify(token, runtime = systemRuntime) {
      if (setupError !== undefined) throw new KeysUnavailableError(setupError)
      const options: JWTVerifyOptions = { ...verifyOptions, currentDate: new Date(runtime.now()) }
      const payload = await verifiedClaims(token, options, runtime, scope, remote, (seen) => verifySignature(token, options, runtime, seen))
      rejectFutureIat(payload, runtime.now(), issuer.clockTolerance)
      return payload
    },
    consumerClaim: issuer.consumerClaim !== undefined ? `"${issuer.consumerClaim}"` : '"sub" or "client_id"',
    consumerOf(payload) {
      const value = consumerPath ? getPath(payload, consumerPath) : (payload.sub ?? payload.client_id)
      return typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined
    },
  }
}
