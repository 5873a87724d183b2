/**
 * @module
 * Publishing who is calling, whichever policy established it: the consumer (with its plan and
 * metadata from `consumers` in the config) and, for tokens, the verified claims. Rate limiting,
 * caching, templates and the log line read them from the context.
 */
import type { Context } from 'hono'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv, Consumer } from '../core/context'
import { GatewayError } from '../core/errors'

/**
 * The config entry this identity is, if any. An entry with `issuer` is that consumer only for
 * tokens from that issuer: a token's subject is unique only within its issuer (OIDC Core 2).
 */
function configuredConsumer(config: GatewayConfig, id: string, via: Consumer['via'], issuer: string | undefined) {
  const known = Object.hasOwn(config.consumers, id) ? config.consumers[id] : undefined
  return known?.issuer !== undefined && via === 'jwt' && known.issuer !== issuer ? undefined : known
}

/**
 * The key of a consumer's shared state (rate-limit counters, plan quotas, cache partition). A
 * configured consumer, and an API key's (always configured), keep the plain id: the config vouches
 * that it is one gateway-wide identity, so its API keys and tokens share one quota. A token's
 * subject the config doesn't know is qualified by its issuer, `<id>@<iss>` with `%` and `@` in the
 * id percent-encoded: `@` is not allowed in a configured name, so it never meets a plain id, and
 * the first `@` splits it, so two issuers' subjects never meet either.
 */
export function consumerKey(config: GatewayConfig, id: string, via: Consumer['via'], issuer: string | undefined): string {
  return keyOf(id, via, issuer, configuredConsumer(config, id, via, issuer) !== undefined)
}

function keyOf(id: string, via: Consumer['via'], issuer: string | undefined, configured: boolean): string {
  if (via !== 'jwt' || issuer === undefined || configured) return id
  return `${id.replace(/[%@]/g, encodeURIComponent)}@${issuer}`
}

export function publishConsumer(
  c: Context<AppEnv>,
  config: GatewayConfig,
  id: string,
  via: 'jwt' | 'api-key',
  metadata?: Record<string, unknown>,
  issuer?: string,
): Consumer {
  const known = configuredConsumer(config, id, via, issuer)
  const merged = known?.metadata || metadata ? { ...known?.metadata, ...metadata } : undefined
  const consumer: Consumer = { id, plan: known?.plan, via, metadata: merged, issuer, key: keyOf(id, via, issuer, known !== undefined) }
  c.set('consumer', consumer)
  // The plain id, as templates show it; a token's issuer is in the line's `auth.issuer`.
  c.get('log').consumer = id
  return consumer
}

export type AuthLog = { via: 'jwt' | 'api-key'; outcome: 'ok' | 'missing' | 'invalid' | 'forbidden' | 'unavailable'; code?: string; issuer?: string; keyId?: string }

/** Records the outcome in the log line (never the credential itself). */
export function logAuth(c: Context<AppEnv>, entry: AuthLog): void {
  c.get('log').auth = entry
}

/** A 401 with a generic reason for the client; the specific cause goes to the log. */
export function unauthorized(detail: string, wwwAuthenticate: string): GatewayError {
  return new GatewayError('ERR_UNAUTHORIZED', { detail, headers: { 'WWW-Authenticate': wwwAuthenticate } })
}

export function authUnavailable(detail: string, retryAfterSeconds: number): GatewayError {
  return new GatewayError('ERR_AUTH_UNAVAILABLE', { detail, headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) } })
}
