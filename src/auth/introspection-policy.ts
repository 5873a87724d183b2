/**
 * @module
 * `oauth`: requires an opaque OAuth 2.0 access token, checked by the issuer's RFC 7662
 * introspection endpoint (`./introspection`) with the gateway's client credentials. An active
 * token's answer is published as the claims (`{claims.sub}`, `acl` claim rules) and its subject
 * (or `client_id`, or `consumerClaim`) as the consumer, as `jwt` does for a JWT.
 *
 * Failures: no token 401 `Bearer`; inactive, expired, another issuer's or audience's 401
 * `Bearer error="invalid_token"`; a missing scope 403 `insufficient_scope`; the endpoint
 * unreachable, slow or answering nonsense 503 with `Retry-After` (the token may be good).
 *
 * @example
 * { "type": "oauth",
 *   "introspection": { "url": "https://login.example.com/oauth2/introspect", "clientId": "edgeway", "clientSecret": "${INTROSPECTION_SECRET}" },
 *   "scopes": ["orders:read"] }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { logEvent } from '../core/logging'
import { definePolicy } from '../core/policy'
import { HeaderName } from '../core/schema'
import { Secret } from '../core/secret'
import { getPath, parsePath } from '../template/path'
import { PathString } from '../template/schema'
import { interpolateVars } from '../upstream/upstream'
import { authUnavailable, knownConsumer, logAuth, publishConsumer, unauthorized } from './consumer'
import { consumerLookup } from './consumer-store'
import { keyUrlProblem } from './fetch-json'
import { introspect, introspectionCache, type IntrospectionClient, type IntrospectionResult } from './introspection'
import { hasScopes } from './jwt-policy'
import { extractToken } from './token'

const INVALID = 'Bearer error="invalid_token"'

export const OAuthOptionsSchema = v.strictObject({
  type: v.literal('oauth'),
  introspection: v.strictObject({
    url: v.pipe(v.string(), v.description(SCHEMA_DOCS ? 'The issuer\'s RFC 7662 introspection endpoint (https; http only on loopback).' : '')),
    clientId: v.pipe(v.string(), v.minLength(1), v.description(SCHEMA_DOCS ? 'The gateway\'s client id at the issuer.' : '')),
    clientSecret: v.pipe(
      Secret(v.pipe(v.string(), v.minLength(1))),
      v.description(SCHEMA_DOCS ? 'The gateway\'s client secret; write `${NAME}` to read it from a Worker secret (recommended).' : ''),
    ),
    timeout: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(30_000)), 2_000), v.description(SCHEMA_DOCS ? 'Milliseconds to wait for the endpoint (then 503).' : '')),
    cacheSeconds: v.pipe(
      v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(60)), 60),
      v.description(SCHEMA_DOCS ? 'Seconds an active answer is reused (never past the token\'s `exp`): a revoked token stops working within this.' : ''),
    ),
    maxBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1_024), v.maxValue(65_536)), 16_384), v.description(SCHEMA_DOCS ? 'Size cap of an answer.' : '')),
  }),
  issuer: v.pipe(
    v.optional(v.pipe(v.string(), v.minLength(1))),
    v.description(SCHEMA_DOCS ? 'The issuer (`iss`): an answer naming another is refused. Unset: the answer\'s `iss`, else the endpoint\'s origin, names the consumer\'s issuer.' : ''),
  ),
  audience: v.pipe(v.optional(v.union([v.string(), v.pipe(v.array(v.string()), v.minLength(1))])), v.description(SCHEMA_DOCS ? 'Accepted `aud` values (one must match).' : '')),
  token: v.optional(
    v.strictObject({
      header: v.optional(HeaderName, 'Authorization'),
      cookie: v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid cookie name'))),
      maxBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(16_384)), 4_096),
    }),
    {},
  ),
  scopes: v.pipe(v.optional(v.array(v.pipe(v.string(), v.regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a valid scope token')))), v.description(SCHEMA_DOCS ? 'Scopes the token must carry (`scope`).' : '')),
  scopesMatch: v.optional(v.picklist(['all', 'any']), 'all'),
  consumerClaim: v.pipe(v.optional(PathString), v.description(SCHEMA_DOCS ? 'Member naming the consumer (default: `sub`, else `client_id`).' : '')),
  requireConsumer: v.optional(v.boolean(), true),
  removeAuthorization: v.optional(v.boolean(), false),
})

export type OAuthOptions = v.InferOutput<typeof OAuthOptionsSchema>

/** Why an active answer still can't be accepted (logged code), or undefined. */
function answerProblem(result: IntrospectionResult, options: OAuthOptions, now: number): string | undefined {
  if (!result.active) return 'ERR_TOKEN_INACTIVE'
  if (typeof result.exp === 'number' && result.exp * 1000 <= now) return 'ERR_TOKEN_EXPIRED'
  if (typeof result.nbf === 'number' && result.nbf * 1000 > now) return 'ERR_TOKEN_NOT_YET_VALID'
  if (options.issuer !== undefined && result.iss !== undefined && result.iss !== options.issuer) return 'ERR_TOKEN_ISSUER'
  if (options.audience !== undefined) {
    const wanted = [options.audience].flat()
    const given = [result.aud].flat()
    if (!given.some((aud) => typeof aud === 'string' && wanted.includes(aud))) return 'ERR_TOKEN_AUDIENCE'
  }
  return undefined
}

/** The client, or the reason it can't be built (a `${VAR}` not set): logged once, every request 503. */
function clientOf(options: OAuthOptions, env: Record<string, unknown>, at: string): IntrospectionClient | string {
  const { url, clientId, clientSecret, timeout, maxBytes } = options.introspection
  try {
    return { url, clientId, clientSecret: interpolateVars(clientSecret, env as never, `${at}.introspection.clientSecret`), timeoutMs: timeout, maxBytes }
  } catch (err) {
    logEvent('auth_introspection_unusable', { at, reason: (err as Error).message })
    return (err as Error).message
  }
}

function introspectionUnavailable(c: Context<AppEnv>, issuer: string, cause: unknown): GatewayError {
  logAuth(c, { via: 'oauth', outcome: 'unavailable', code: 'ERR_INTROSPECTION_UNAVAILABLE', issuer })
  c.get('log').errorCause = cause instanceof Error ? cause.message : String(cause)
  return authUnavailable('Tokens cannot be checked right now.', 5)
}

export const oauthPolicy = definePolicy({
  type: 'oauth',
  phase: 'auth',
  schema: OAuthOptionsSchema,
  check(options, ctx) {
    const problem = keyUrlProblem(options.introspection.url)
    if (problem) ctx.error('.introspection.url', problem)
  },
  subrequests() {
    return 1
  },
  create(options, { config, env, at }) {
    const client = clientOf(options, env, at)
    const endpointOrigin = new URL(options.introspection.url).origin
    const cache = introspectionCache(options.introspection.cacheSeconds)
    const consumerPath = options.consumerClaim !== undefined ? parsePath(options.consumerClaim) : undefined
    const required = options.scopes ?? []
    const scopeChallenge = `Bearer error="insufficient_scope", scope="${required.join(' ')}"`
    const lookup = consumerLookup(config, env)
    const source = { header: options.token.header, cookie: options.token.cookie, maxBytes: options.token.maxBytes }

    const invalid = (c: Context<AppEnv>, code: string, issuer = options.issuer): GatewayError => {
      logAuth(c, { via: 'oauth', outcome: 'invalid', code, ...(issuer !== undefined && { issuer }) })
      return unauthorized('The bearer token is invalid.', INVALID)
    }

    return async function oauth(c, next) {
      const extracted = extractToken(c.req.raw.headers, source)
      if ('missing' in extracted) {
        logAuth(c, { via: 'oauth', outcome: 'missing' })
        throw unauthorized('A bearer token is required.', 'Bearer')
      }
      if ('tooLarge' in extracted) throw invalid(c, 'ERR_TOKEN_TOO_LARGE')
      if (typeof client === 'string') throw introspectionUnavailable(c, options.issuer ?? endpointOrigin, client)
      const runtime = c.get('runtime')
      const cached = await cache.get(extracted.token, runtime.now())
      let result = cached.result
      if (result === undefined) {
        try {
          result = await introspect(client, extracted.token, runtime)
        } catch (err) {
          throw introspectionUnavailable(c, options.issuer ?? endpointOrigin, err)
        }
        cache.put(cached.key, result, runtime.now())
      }
      const issuer = options.issuer ?? (typeof result.iss === 'string' && result.iss !== '' ? result.iss : endpointOrigin)
      const problem = answerProblem(result, options, runtime.now())
      if (problem) throw invalid(c, problem, issuer)
      if (required.length > 0 && !hasScopes(result, required, options.scopesMatch === 'all')) {
        logAuth(c, { via: 'oauth', outcome: 'forbidden', code: 'ERR_INSUFFICIENT_SCOPE', issuer })
        throw new GatewayError('ERR_INSUFFICIENT_SCOPE', {
          detail: `The token lacks the required scope (${options.scopesMatch === 'all' ? 'all of' : 'one of'}: ${required.join(' ')}).`,
          headers: { 'WWW-Authenticate': scopeChallenge },
          extensions: { scopes: required },
        })
      }
      const named = consumerPath ? getPath(result, consumerPath) : (result.sub ?? result.client_id)
      const id = typeof named === 'string' && named !== '' ? named : typeof named === 'number' ? String(named) : undefined
      if (id === undefined && options.requireConsumer) throw invalid(c, 'ERR_TOKEN_NO_CONSUMER', issuer)
      c.set('claims', result)
      if (id !== undefined) publishConsumer(c, config, id, 'oauth', undefined, issuer, await knownConsumer(c, config, lookup, id, 'oauth', issuer))
      logAuth(c, { via: 'oauth', outcome: 'ok', issuer })
      if (options.removeAuthorization) c.get('upstreamRequest').headers.delete('authorization')
      await next()
    }
  },
})
