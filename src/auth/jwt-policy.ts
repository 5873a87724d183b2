/**
 * @module
 * `jwt`: requires a valid JWT (OAuth 2.0 bearer token, OIDC ID or access token) from one of the
 * configured issuers. The issuer is picked by the token's (unverified) `iss`, and the token is
 * verified with that issuer's keys only. On success the claims and the consumer are published,
 * and configured claims are forwarded to the origin as headers, which are first removed from the
 * client's request so they can't be spoofed.
 *
 * Failures: 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750; no error when the
 * token is missing; with an `error_description` when a valid token names no consumer); 403
 * `insufficient_scope` when a scope is missing; 503 when no keys can be had. The client gets a
 * generic reason, the log line jose's error code. Never a 500.
 *
 * @example
 * { "type": "jwt",
 *   "issuers": [{ "issuer": "https://login.example.com/", "discovery": true, "audience": "api" }],
 *   "scopes": ["orders:read"], "forwardClaims": { "X-User-Id": "sub" }, "removeAuthorization": true }
 */
import { decodeJwt, type JWTPayload } from 'jose'
import { authUnavailable, knownConsumer, logAuth, publishConsumer, unauthorized } from './consumer'
import { consumerLookup } from './consumer-store'
import { keyUrlProblem } from './fetch-json'
import { checkIssuer, compileIssuer, issuerSubrequests, type IssuerVerifier } from './issuer'
import { JwtOptionsSchema, type JwtOptions } from './schema'
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { KeysUnavailableError } from './key-set'
import { extractToken, type TokenSource } from './token'
import { issuerOfRepeated } from './verified-signatures'
import { GatewayError } from '../core/errors'
import { getPath, parsePath, type ParsedPath } from '../template/path'
import { stringifyValue } from '../template/template'
import { definePolicy } from '../core/policy'
import { percentEncodeUtf8 } from '../core/encoding'

const INVALID = 'Bearer error="invalid_token"'
/** A token without an `iss` this route trusts: logged with this code (not a jose code). */
const UNKNOWN_ISSUER = 'ERR_JWT_UNKNOWN_ISSUER'
/** A token matching no issuer while an issuer's `${VAR}` is not set: logged with this code, answered 503. */
const UNRESOLVED_ISSUER = 'ERR_AUTH_ISSUER_UNRESOLVED'

/** Headers a claim may never be forwarded as: they steer the proxy or the origin's framing. */
const RESERVED_HEADERS = new Set(['host', 'authorization', 'content-length', 'transfer-encoding', 'connection', 'cookie'])

function scopesOf(payload: JWTPayload): Set<string> {
  const scopes = new Set<string>()
  for (const claim of [payload.scope, payload.scp]) {
    const list = typeof claim === 'string' ? claim.split(' ') : Array.isArray(claim) ? claim : []
    for (const scope of list) if (typeof scope === 'string' && scope !== '') scopes.add(scope)
  }
  return scopes
}

/**
 * A claim as a header value: anything outside printable ASCII (CR, LF, non-Latin text) is
 * percent-encoded as UTF-8, so it can neither inject a header nor make `Headers.set` throw.
 */
function headerValue(value: string): string {
  return value.replace(/[^\x20-\x7E]+/g, percentEncodeUtf8)
}

/** The token's unverified `iss` (it only picks the keys); a repeated token's without decoding it again. */
function issuerOf(token: string): string | undefined {
  const known = issuerOfRepeated(token)
  if (known !== undefined) return known
  const iss = decodeJwt(token).iss
  return typeof iss === 'string' ? iss : undefined
}

/** The route's issuers, by exact `iss`. */
type Issuers = {
  verifiers: Map<string, IssuerVerifier>
  /**
   * Issuers whose `${VAR}` isn't set (logged once as `auth_issuer_unusable`): a token from them
   * can't be recognised, so an unmatched token is a 503 config problem, not a 401.
   */
  unresolved: string[]
}

/** A header to send the origin, and the claim path whose value it carries. */
type ForwardedClaim = readonly [header: string, path: ParsedPath]

function compileIssuers(options: JwtOptions, env: Env, at: string): Issuers {
  const verifiers = new Map<string, IssuerVerifier>()
  const unresolved: string[] = []
  options.issuers.forEach((issuer, i) => {
    const verifier = compileIssuer(issuer, env, `${at}.issuers[${i}]`)
    if (verifier.unresolved !== undefined) unresolved.push(verifier.unresolved)
    else verifiers.set(verifier.issuer, verifier)
  })
  return { verifiers, unresolved }
}

/** The request's token, or a 401: none (a bare `Bearer` challenge) or too large to verify. */
function requireToken(c: Context<AppEnv>, source: TokenSource): string {
  const extracted = extractToken(c.req.raw.headers, source)
  if ('missing' in extracted) {
    logAuth(c, { via: 'jwt', outcome: 'missing' })
    throw unauthorized('A bearer token is required.', 'Bearer')
  }
  if ('tooLarge' in extracted) {
    logAuth(c, { via: 'jwt', outcome: 'invalid', code: 'ERR_JWT_TOO_LARGE' })
    throw unauthorized('The bearer token is invalid.', INVALID)
  }
  return extracted.token
}

/**
 * Verifies the token with the keys of the issuer its (unverified) `iss` names. No keys to be had
 * is a 503; every other failure, jose's or not, is the token's fault: 401, never a 500.
 */
async function verifyToken(c: Context<AppEnv>, token: string, { verifiers, unresolved }: Issuers): Promise<{ verifier: IssuerVerifier; payload: JWTPayload }> {
  let verifier: IssuerVerifier | undefined
  try {
    const iss = issuerOf(token)
    verifier = iss !== undefined ? verifiers.get(iss) : undefined
    if (!verifier && unresolved.length > 0) throw new KeysUnavailableError(unresolved.join('; '), UNRESOLVED_ISSUER)
    if (!verifier) throw Object.assign(new Error('untrusted issuer'), { code: UNKNOWN_ISSUER })
    return { verifier, payload: await verifier.verify(token, c.get('runtime')) }
  } catch (err) {
    if (err instanceof KeysUnavailableError) {
      logAuth(c, { via: 'jwt', outcome: 'unavailable', code: err.code, issuer: verifier?.issuer })
      c.get('log').errorCause = err.message
      throw authUnavailable('Tokens cannot be verified right now.', verifier?.retryAfter ?? 30)
    }
    const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'ERR_JWT_INVALID'
    logAuth(c, { via: 'jwt', outcome: 'invalid', code, issuer: verifier?.issuer })
    throw unauthorized('The bearer token is invalid.', INVALID)
  }
}

/** Whether the token grants every required scope (`all`) or one of them (`any`). */
export function hasScopes(payload: JWTPayload, required: string[], needAll: boolean): boolean {
  const granted = scopesOf(payload)
  return needAll ? required.every((s) => granted.has(s)) : required.some((s) => granted.has(s))
}

/** Sets each configured claim the token has as its header on the upstream request. */
function forwardClaims(draft: Headers, forward: ForwardedClaim[], payload: JWTPayload) {
  for (const [header, path] of forward) {
    const value = stringifyValue(getPath(payload, path))
    if (value !== undefined) draft.set(header, headerValue(value))
  }
}

/**
 * A valid token naming no consumer. Required by default (`requireConsumer`): the identity feeds
 * rate-limit keys and plans, cache scope, forwarded claims, templates, canary splits, metrics and
 * the log line, too many readers to prove at build time that none of them is configured.
 */
function noConsumer(c: Context<AppEnv>, verifier: IssuerVerifier): GatewayError {
  logAuth(c, { via: 'jwt', outcome: 'invalid', code: 'ERR_JWT_NO_CONSUMER', issuer: verifier.issuer })
  // RFC 6750: error_description is printable ASCII without `"` and `\`.
  const description = `the token has no ${verifier.consumerClaim} claim naming its consumer`.replaceAll('"', "'").replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '')
  return unauthorized('The bearer token names no consumer.', `${INVALID}, error_description="${description}"`)
}

export const jwtPolicy = definePolicy({
  type: 'jwt',
  phase: 'auth',
  schema: JwtOptionsSchema,
  check(options, ctx) {
    const seen = new Map<string, number>()
    options.issuers.forEach((issuer, i) => {
      checkIssuer(issuer, (field, message) => ctx.error(`.issuers[${i}]${field}`, message), keyUrlProblem)
      const first = seen.get(issuer.issuer)
      if (first !== undefined) ctx.error(`.issuers[${i}].issuer`, `duplicate issuer "${issuer.issuer}" (also issuers[${first}])`)
      else seen.set(issuer.issuer, i)
    })
    for (const name of Object.keys(options.forwardClaims)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.error(`.forwardClaims.${name}`, `"${name}" can't carry a claim`)
    }
  },
  subrequests(options) {
    // Only the token's own issuer is used, so the worst case is the costliest issuer, not a sum.
    return Math.max(0, ...options.issuers.map(issuerSubrequests))
  },
  create(options, { config, env, at }) {
    const issuers = compileIssuers(options, env, at)
    const source: TokenSource = { header: options.token.header, cookie: options.token.cookie, maxBytes: options.token.maxBytes }
    const forward: ForwardedClaim[] = Object.entries(options.forwardClaims).map(([header, path]) => [header, parsePath(path)] as const)
    const required = options.scopes ?? []
    const needAll = options.scopesMatch === 'all'
    const scopeChallenge = `Bearer error="insufficient_scope", scope="${required.join(' ')}"`
    const lookup = consumerLookup(config, env)

    return async function jwt(c, next) {
      const draft = c.get('upstreamRequest').headers
      for (const [header] of forward) draft.delete(header)
      const token = requireToken(c, source)
      const { verifier, payload } = await verifyToken(c, token, issuers)
      if (required.length > 0 && !hasScopes(payload, required, needAll)) {
        logAuth(c, { via: 'jwt', outcome: 'forbidden', code: 'ERR_INSUFFICIENT_SCOPE', issuer: verifier.issuer })
        throw new GatewayError('ERR_INSUFFICIENT_SCOPE', {
          detail: `The token lacks the required scope (${needAll ? 'all of' : 'one of'}: ${required.join(' ')}).`,
          headers: { 'WWW-Authenticate': scopeChallenge },
          extensions: { scopes: required },
        })
      }

      const id = verifier.consumerOf(payload)
      if (id === undefined && options.requireConsumer) throw noConsumer(c, verifier)
      c.set('claims', payload as Record<string, unknown>)
      if (id !== undefined) publishConsumer(c, config, id, 'jwt', undefined, verifier.issuer, await knownConsumer(c, config, lookup, id, 'jwt', verifier.issuer))
      logAuth(c, { via: 'jwt', outcome: 'ok', issuer: verifier.issuer })
      forwardClaims(draft, forward, payload)
      if (options.removeAuthorization) draft.delete('authorization')
      await next()
    }
  },
})
