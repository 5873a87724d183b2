/**
 * @module
 * Admin endpoints for rate limits (behind the admin token, like the rest of the admin API):
 *
 *   GET    {prefix}/rate-limits?key=ip%3D203.0.113.7   the key's live counters
 *   DELETE {prefix}/rate-limits?key=ip%3D203.0.113.7   forget them (the key starts afresh)
 *   GET    {prefix}/rate-limits?consumer=alice&issuer=https%3A%2F%2Fa.example%2F
 *                                                      the same, for a consumer's own key
 *
 * `key` is the rendered limit key (`consumer=alice`, `ip=203.0.113.7`, `consumer=alice&route=orders`,
 * see `./keys`); `binding` picks the Durable Object binding (default `RATE_LIMITER`). `consumer`
 * (with `issuer` for a token's subject) renders the `["consumer"]` key, which plan limits and
 * quotas use, the way a request would: the operator needn't know how an issuer-qualified key
 * looks, or that a long one is hashed. The answer names the key either way. A reset takes full
 * effect within one lease duration (10 s): the object cannot reach the isolates holding leases.
 */
import type { Context } from 'hono'
import { onFirstUse, type AdminContext, type AdminExtension } from '../core/admin'
import { consumerKey, storedConsumerKey } from '../core/consumer'
import type { AppEnv } from '../core/context'
import type { RateLimiter } from './rate-limiter'
import type { RateLimitOptions } from './schema'
import { GatewayError } from '../core/errors'
import { compileKey } from './keys'
import { withTimeout } from './reserve'
import { MAX_LEASE_MS } from './lease-ledger'
import { LOCAL_DENIAL_MS } from './leases'
import type { Runtime } from '../core/runtime'

const consumerOnly = compileKey(['consumer'])
/** The binding the admin token counter uses, and the default of every `rate-limit` policy. */
const DEFAULT_BINDING = 'RATE_LIMITER'
const ADMIN_TIMEOUT_MS = 5000
/** A reset is seen everywhere within the longest lease, and the longest local denial. */
const FULL_EFFECT_S = Math.max(MAX_LEASE_MS, LOCAL_DENIAL_MS) / 1000

/**
 * Whether the consumer store (`gateway.consumerStore`) has `id` for tokens of `issuer`: an entry
 * pinned to no issuer or to this one. Authentication then knows the token's subject, and a request
 * counts under the plain id, as for a configured consumer. One uncached KV read per admin call.
 * The entry's KV key comes from core/ (`storedConsumerKey`), which auth/consumer-store.ts writes
 * with too; only its `issuer` is read here (test/rate-limit/consumer-key-admin.test.ts holds the
 * two to each other with real requests).
 */
async function storedFor(ctx: AdminContext, id: string, issuer: string): Promise<boolean> {
  const store = ctx.config.gateway.consumerStore as { kv: string } | undefined
  const kv = store && (ctx.env[store.kv] as KVNamespace | undefined)
  if (!kv || typeof kv.get !== 'function') return false
  let entry: { issuer?: unknown } | null
  try {
    entry = await kv.get<{ issuer?: unknown }>(storedConsumerKey(id), { type: 'json' })
  } catch (err) {
    throw new GatewayError('ERR_RATE_LIMIT_UNAVAILABLE', { detail: 'The consumer store cannot be read, so the consumer\'s key is unknown.', cause: err })
  }
  return entry !== null && (entry.issuer === undefined || entry.issuer === issuer)
}

/**
 * The `["consumer"]` key a request of this consumer counts under (`Consumer.key`, core/consumer.ts):
 * without `issuer`, the plain id (an API key's, HTTP Basic's, mTLS's or a signature's consumer,
 * and a token's subject the config or store knows); with it, a token's subject, qualified by its
 * issuer unless the config or the consumer store knows it for that issuer.
 */
async function keyOf(c: Context<AppEnv>, ctx: AdminContext): Promise<string | undefined> {
  const consumer = c.req.query('consumer')
  if (consumer === undefined || c.req.query('key') !== undefined) return c.req.query('key')
  const issuer = c.req.query('issuer') || undefined
  if (!consumer.trim() || consumer.length > 1024 || (issuer?.length ?? 0) > 1024) return undefined
  const stored = issuer !== undefined && !Object.hasOwn(ctx.config.consumers, consumer) && (await storedFor(ctx, consumer, issuer))
  const key = stored ? consumer : consumerKey(ctx.config, consumer, 'jwt', issuer)
  return (await consumerOnly.derive({ consumer: key, ip: undefined, route: undefined, headers: new Headers() })).key
}

/**
 * The `RateLimiter` bindings: the default and those the config's `rate-limit` policies name. Any
 * other Durable Object binding (the metrics aggregator's) holds another class, which has no
 * counters to show: asking it is the caller's mistake, not an outage.
 */
function limiterBindings(config: AdminContext['config']): string[] {
  const policies = [...config.policies, ...config.routes.flatMap((r) => r.policies)].filter((p) => p.type === 'rate-limit') as RateLimitOptions[]
  return [...new Set([DEFAULT_BINDING, ...policies.map((p) => p.binding)])]
}

async function target(c: Context<AppEnv>, ctx: AdminContext, bindings: string[]): Promise<{ key: string; stub: DurableObjectStub<RateLimiter> }> {
  const key = await keyOf(c, ctx)
  if (!key || key.length > 1024) {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: 'Give the limit key as ?key=, e.g. ?key=ip%3D203.0.113.7, or a consumer as ?consumer=alice (&issuer= for a token\'s subject)' })
  }
  const binding = c.req.query('binding') ?? DEFAULT_BINDING
  if (!bindings.includes(binding)) {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: `${JSON.stringify(binding.slice(0, 128))} is not a rate limiter binding of this config (known: ${bindings.join(', ')}).` })
  }
  const ns = c.env[binding] as DurableObjectNamespace<RateLimiter> | undefined
  if (!ns || typeof ns.idFromName !== 'function') {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: `"${binding}" is not a Durable Object binding of this Worker.` })
  }
  return { key, stub: ns.get(ns.idFromName(key)) }
}

async function call<T>(promise: Promise<T>, runtime: Runtime): Promise<T> {
  try {
    return await withTimeout(promise, ADMIN_TIMEOUT_MS, runtime)
  } catch (err) {
    throw new GatewayError('ERR_RATE_LIMIT_UNAVAILABLE', { detail: 'The rate limiter did not answer.', cause: err })
  }
}

export const rateLimitAdmin: AdminExtension = (app, ctx) => {
  const bindings = onFirstUse(() => limiterBindings(ctx.config))
  app.get('/rate-limits', async (c) => {
    const { key, stub } = await target(c, ctx, bindings())
    const state = await call(Promise.resolve(stub.inspect()), c.get('runtime'))
    return c.json({ key, now: new Date(state.now).toISOString(), counters: state.counters })
  })
  app.delete('/rate-limits', async (c) => {
    const { key, stub } = await target(c, ctx, bindings())
    await call(Promise.resolve(stub.reset()), c.get('runtime'))
    // The object can't reach the isolates: units they hold in leases, and 429s they answer
    // themselves, last until their lease or local denial ends.
    return c.json({
      key,
      reset: true,
      fullEffectWithinSeconds: FULL_EFFECT_S,
      detail: `Counters cleared. Gateways may spend units leased before the reset, or answer 429 themselves, for up to ${FULL_EFFECT_S} s.`,
    })
  })
}
