/**
 * @module
 * Consumers kept in KV (`gateway.consumerStore`), beside those in the config: created, edited and
 * deleted through the admin API (`./consumer-store-admin`) without a deploy. Authentication asks
 * the config first and the store second, so `api-key`, plans, `acl`, rate limits and cache scope
 * see a stored consumer as they see a configured one. One entry per consumer:
 *
 *   consumer:<id>   { id, plan?, groups?, metadata?, issuer?, createdAt, updatedAt }
 *
 * Reads are cached per isolate for `cacheSeconds` (on the runtime's clock), found and not found
 * alike, so a token's unknown subject costs one KV read per isolate and period, not one per
 * request. KV is eventually consistent (a write can take up to about 60 s to reach every
 * location), so a change takes effect everywhere within about `cacheSeconds` + 60 s; the isolate
 * that handled the admin call forgets its cached copy at once.
 */
import * as v from 'valibot'
import type { ConfigView, ConsumerView, PolicyView } from '../core/config-view'
import type { Env } from '../core/env'
import type { Runtime } from '../core/runtime'
import { STORED_CONSUMER_PREFIX, storedConsumerKey } from '../core/consumer'
import { Name } from '../core/schema'

export const ConsumerStoreSchema = v.strictObject({
  kv: v.pipe(Name, v.description(SCHEMA_DOCS ? 'KV namespace binding holding the stored consumers.' : '')),
  groups: v.pipe(
    v.optional(v.array(Name), []),
    v.description(SCHEMA_DOCS ? 'Groups stored consumers may have (besides those configured consumers list); `acl` policies may name them.' : ''),
  ),
  cacheSeconds: v.pipe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(300)), 30),
    v.description(SCHEMA_DOCS ? 'How long an isolate keeps a looked-up consumer (or its absence); changes reach every location within about this plus 60 s.' : ''),
  ),
})

export type ConsumerStoreSettings = v.InferOutput<typeof ConsumerStoreSchema>

export type StoredConsumer = {
  id: string
  plan?: string | undefined
  groups?: string[] | undefined
  metadata?: Record<string, unknown> | undefined
  issuer?: string | undefined
  createdAt: string
  updatedAt: string
}

/** Entries an isolate keeps at most: random token subjects can't grow the cache without bound. */
const MAX_CACHED = 10_000

/** Policies that look an unconfigured consumer up in the store (one KV read each, at most). */
const STORE_READERS = new Set(['jwt', 'api-key', 'oauth'])

/** The subrequests store lookups add to a route whose policies (global ones included) are `policies`. */
export function consumerStoreSubrequests(config: Pick<ConfigView, 'gateway'>, policies: readonly PolicyView[]): number {
  return consumerStoreOf(config) === undefined ? 0 : policies.filter((p) => STORE_READERS.has(p.type)).length
}

/** `gateway.consumerStore`, narrowed from the view (this feature owns the section). */
export function consumerStoreOf(config: Pick<ConfigView, 'gateway'>): ConsumerStoreSettings | undefined {
  return config.gateway.consumerStore as ConsumerStoreSettings | undefined
}

/** Per isolate, per KV namespace: what was read and when. Dropped with the isolate. */
const cached = new WeakMap<KVNamespace, Map<string, { consumer: StoredConsumer | null; readAt: number }>>()

/**
 * Counts this isolate's writes and deletes of stored consumers, once as each begins and once as it
 * ends: a read that overlapped one may hold what it replaced (a deleted consumer, an old plan), so
 * it answers its own request but is not cached.
 */
let writes = 0

function cacheOf(kv: KVNamespace) {
  let map = cached.get(kv)
  if (!map) cached.set(kv, (map = new Map()))
  return map
}

/** The KV namespace of the store, or an Error saying why there is none to use. */
export function storeNamespace(settings: ConsumerStoreSettings, env: Env): KVNamespace {
  const kv = env[settings.kv] as KVNamespace | undefined
  if (!kv || typeof kv.get !== 'function') throw new Error(`no KV binding "${settings.kv}"`)
  return kv
}

export async function readConsumer(kv: KVNamespace, id: string): Promise<StoredConsumer | null> {
  return kv.get<StoredConsumer>(storedConsumerKey(id), { type: 'json' })
}

export async function writeConsumer(kv: KVNamespace, consumer: StoredConsumer): Promise<void> {
  writes++
  try {
    await kv.put(storedConsumerKey(consumer.id), JSON.stringify(consumer))
  } finally {
    writes++
    cacheOf(kv).delete(consumer.id)
  }
}

export async function deleteConsumer(kv: KVNamespace, id: string): Promise<void> {
  writes++
  try {
    await kv.delete(storedConsumerKey(id))
  } finally {
    writes++
    cacheOf(kv).delete(id)
  }
}

/** One page of stored consumers (at most `limit`), and the cursor of the next page. */
export async function listConsumers(kv: KVNamespace, limit: number, cursor?: string): Promise<{ consumers: StoredConsumer[]; cursor?: string }> {
  const page = await kv.list({ prefix: STORED_CONSUMER_PREFIX, limit, ...(cursor ? { cursor } : {}) })
  const consumers = await Promise.all(page.keys.map((key) => kv.get<StoredConsumer>(key.name, { type: 'json' })))
  return { consumers: consumers.filter((c): c is StoredConsumer => c !== null), ...(!page.list_complete && { cursor: page.cursor }) }
}

/** A stored consumer through the isolate's cache (KV errors propagate: the caller answers 503). */
async function cachedConsumer(kv: KVNamespace, id: string, runtime: Runtime, ttlMs: number): Promise<StoredConsumer | null> {
  const cache = cacheOf(kv)
  const now = runtime.now()
  const hit = cache.get(id)
  if (hit && now - hit.readAt >= 0 && now - hit.readAt < ttlMs) return hit.consumer
  const writesBefore = writes
  const consumer = await readConsumer(kv, id)
  if (writes !== writesBefore) return consumer
  cache.delete(id)
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!)
  cache.set(id, { consumer, readAt: now })
  return consumer
}

/** Looks consumers up in the store for one policy, or undefined when the config has no store. */
export type ConsumerLookup = (id: string, runtime: Runtime) => Promise<ConsumerView | undefined>

export function consumerLookup(config: Pick<ConfigView, 'gateway'>, env: Env): ConsumerLookup | undefined {
  const settings = consumerStoreOf(config)
  if (settings === undefined) return undefined
  const ttlMs = settings.cacheSeconds * 1000
  return async (id, runtime) => (await cachedConsumer(storeNamespace(settings, env), id, runtime, ttlMs)) ?? undefined
}
