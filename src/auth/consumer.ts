/**
 * @module
 * Publishing who is calling, whichever policy established it: the consumer (with its plan, groups
 * and metadata from `consumers` in the config or from the consumer store) and, for tokens, the
 * verified claims. Rate limiting,
 * caching, templates and the log line read them from the context.
 */
import type { Context } from 'hono'
import type { ConfigView, ConsumerView } from '../core/config-view'
import { configuredConsumer, fromToken, keyOf } from '../core/consumer'
import type { AppEnv, Consumer } from '../core/context'
import { GatewayError } from '../core/errors'
import type { ValidationContext } from '../core/policy'
import { own } from '../core/record'
import type { ConsumerLookup } from './consumer-store'

/** The policies that establish a consumer. */
export type AuthVia = 'jwt' | 'api-key' | 'oauth' | 'basic-auth' | 'mtls' | 'http-signature'

/** `stored`: the identity's entry in the consumer store (`knownConsumer`), used when the config has none. */
export function publishConsumer(
  c: Context<AppEnv>,
  config: Pick<ConfigView, 'consumers'>,
  id: string,
  via: AuthVia,
  metadata?: Record<string, unknown>,
  issuer?: string,
  stored?: ConsumerView,
): Consumer {
  const known = configuredConsumer(config, id, via, issuer) ?? stored
  const merged = known?.metadata || metadata ? { ...known?.metadata, ...metadata } : undefined
  const consumer: Consumer = { id, plan: known?.plan, groups: known?.groups, via, metadata: merged, issuer, key: keyOf(id, via, issuer, known !== undefined) }
  c.set('consumer', consumer)
  // The plain id, as templates show it; a token's issuer is in the line's `auth.issuer`.
  c.get('log').consumer = id
  return consumer
}

/**
 * The entry an identity is: the config's, else the consumer store's (`./consumer-store`), each
 * pinned to its `issuer` when it has one. The config wins: an id it lists is never looked up.
 * The store failing is a 503 (logged `ERR_CONSUMER_STORE`): without the entry, the plan, groups
 * and limits that apply are unknown.
 */
export async function knownConsumer(
  c: Context<AppEnv>,
  config: Pick<ConfigView, 'consumers'>,
  lookup: ConsumerLookup | undefined,
  id: string,
  via: AuthVia,
  issuer?: string,
): Promise<ConsumerView | undefined> {
  if (Object.hasOwn(config.consumers, id) || lookup === undefined) return configuredConsumer(config, id, via, issuer)
  let stored: ConsumerView | undefined
  try {
    stored = await lookup(id, c.get('runtime'))
  } catch (err) {
    logAuth(c, { via, outcome: 'unavailable', code: 'ERR_CONSUMER_STORE', ...(issuer !== undefined && { issuer }) })
    c.get('log').errorCause = String(err)
    throw authUnavailable('Consumers cannot be looked up right now.', 5)
  }
  return stored?.issuer !== undefined && fromToken(via) && stored.issuer !== issuer ? undefined : stored
}

/**
 * Config check for a credential that names the consumer it authenticates (`basic-auth`, `mtls`,
 * `http-signature`): only a configured consumer, looked up as an own property.
 */
export function checkNamedConsumer(ctx: ValidationContext, field: string, consumer: string): void {
  if (own(ctx.config.consumers, consumer) === undefined) ctx.error(field, `unknown consumer "${consumer}" (add it under "consumers")`)
}

export type AuthLog = { via: AuthVia; outcome: 'ok' | 'missing' | 'invalid' | 'forbidden' | 'unavailable'; code?: string; issuer?: string; keyId?: string }

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
