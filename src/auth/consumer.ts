/**
 * @module
 * Publishing who is calling, whichever policy established it: the consumer (with its plan and
 * metadata from `consumers` in the config) and, for tokens, the verified claims. Rate limiting,
 * caching, templates and the log line read them from the context.
 */
import type { Context } from 'hono'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv, Consumer } from '../context'
import { GatewayError } from '../errors'

export function publishConsumer(
  c: Context<AppEnv>,
  config: GatewayConfig,
  id: string,
  via: 'jwt' | 'api-key',
  metadata?: Record<string, unknown>,
): Consumer {
  const known = Object.hasOwn(config.consumers, id) ? config.consumers[id] : undefined
  const merged = known?.metadata || metadata ? { ...known?.metadata, ...metadata } : undefined
  const consumer: Consumer = { id, plan: known?.plan, via, metadata: merged }
  c.set('consumer', consumer)
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
