/**
 * @module
 * Who a consumer is across features: which configured entry an identity is, and the key its
 * shared state (rate-limit counters, plan quotas, cache partition) lives under. Authentication
 * publishes the consumer (`auth/consumer.ts`); rate limits, the cache, canary pins and the admin
 * API read the same key through this file, so they always agree.
 */
import type { ConfigView, ConsumerView } from './config-view'
import type { Consumer } from './context'

type Consumers = Pick<ConfigView, 'consumers'>

/**
 * Where the consumer store (`gateway.consumerStore`, `auth/consumer-store.ts`) keeps a consumer in
 * its KV namespace. Here, not in auth/, because the rate-limit admin also reads whether a token's
 * subject is stored (to render the key it counts under), and features share only core/.
 */
export const STORED_CONSUMER_PREFIX = 'consumer:'

/** The store's KV key for consumer `id`. */
export function storedConsumerKey(id: string): string {
  return STORED_CONSUMER_PREFIX + id
}

/** Whether a consumer came from a token (`jwt`, or `oauth` introspection): its subject is unique only within its issuer. */
export function fromToken(via: Consumer['via']): boolean {
  return via === 'jwt' || via === 'oauth'
}

/**
 * The config entry this identity is, if any (an own-property lookup: `constructor` is no
 * consumer). An entry with `issuer` is that consumer only for tokens from that issuer: a token's
 * subject is unique only within its issuer (OIDC Core 2).
 */
export function configuredConsumer(config: Consumers, id: string, via: Consumer['via'], issuer: string | undefined): ConsumerView | undefined {
  const known = Object.hasOwn(config.consumers, id) ? config.consumers[id] : undefined
  return known?.issuer !== undefined && fromToken(via) && known.issuer !== issuer ? undefined : known
}

/**
 * The key of a consumer's shared state (rate-limit counters, plan quotas, cache partition). A
 * configured consumer, and an API key's (always configured), keep the plain id: the config vouches
 * that it is one gateway-wide identity, so its API keys and tokens share one quota. A token's
 * subject the config doesn't know is qualified by its issuer, `<id>@<iss>` with `%` and `@` in the
 * id percent-encoded: `@` is not allowed in a configured name, so it never meets a plain id, and
 * the first `@` splits it, so two issuers' subjects never meet either.
 */
export function consumerKey(config: Consumers, id: string, via: Consumer['via'], issuer: string | undefined): string {
  return keyOf(id, via, issuer, configuredConsumer(config, id, via, issuer) !== undefined)
}

export function keyOf(id: string, via: Consumer['via'], issuer: string | undefined, configured: boolean): string {
  if (!fromToken(via) || issuer === undefined || configured) return id
  return `${id.replace(/[%@]/g, encodeURIComponent)}@${issuer}`
}
