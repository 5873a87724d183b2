/**
 * @module
 * Publishing who is calling, whichever policy established it: the consumer (with its plan and
 * metadata from `consumers` in the config) and, for tokens, the verified claims. Rate limiting,
 * caching, templates and the log line read them from the context.
 */
import type { Context } from 'hono'
import type { ConfigView } from '../core/config-view'
import { configuredConsumer, keyOf } from '../core/consumer'
import type { AppEnv, Consumer } from '../core/context'
import { GatewayError } from '../core/errors'

export function publishConsumer(
  c: Context<AppEnv>,
  config: Pick<ConfigView, 'consumers'>,
  id: string,
  via: 'jwt' | 'api-key',
  metadata?: Record<string, unknown>,
  issuer?: string,
): Consumer {
  const known = configuredConsumer(config, id, via, issuer)
  const merged = known?.metadata || metadata ? { ...known?.metadata, ...metadata } : undefined
  const consumer: Consumer = { id, plan: known?.plan, groups: known?.groups, via, metadata: merged, issuer, key: keyOf(id, via, issuer, known !== undefined) }
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
