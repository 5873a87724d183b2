/**
 * @module
 * A request's place in the cache: whom its entry may be shared with (the partition), the route's
 * purge generation, its primary key and `Vary` variant, and what the lookup finds there; then
 * storing the origin's answer under those same keys, when the store decision allows it.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import type { Runtime } from '../core/runtime'
import { logEvent } from '../core/logging'
import type { Entry } from '../http-cache/entry'
import { decideStore, entryState, type FreshnessOptions } from '../http-cache/freshness'
import type { GenerationStore } from '../http-cache/generation'
import { consumerPartition, varyNames, type CompiledKey } from '../http-cache/key'
import { lookup, storeBeforeAnswer, type Lookup, type StoreOutcome } from '../http-cache/store'
import type { Pins } from './pins'
import type { InvalidationBudget } from './propagation'
import { invalidatedSince } from './invalidated'
import type { CacheOptions } from './schema'

/** What the `cache` policy computes once, when it is built for a route. */
export type CacheSetup = {
  pins: Pins
  key: CompiledKey
  /** Request headers a transform edits: a response varying on one of them is not stored. */
  transformed: Set<string>
  freshness: FreshnessOptions
  generations: GenerationStore
  /** How many invalidations this isolate carries to other locations (`./propagation`). */
  propagation: InvalidationBudget
  /** Response headers never stored (the request id's, per client). */
  strip: string[]
  scope: CacheOptions['scope']
  maxBodyBytes: number
  cacheName: string | undefined
  /** How long a fresh entry read from the Cache API is kept in the isolate's memory (`../http-cache/memory`). */
  memoryHoldMs: number
  /** How long a background refresh may hold its key. */
  refreshTimeoutMs: number
}

/** A request's visit to the cache: where its entry lives, and what was found there. */
export type Visit = {
  /** Whether the request carries credentials or an established identity. */
  identified: boolean
  partition: string
  storage: Cache
  origin: string
  /** The path as the cache keys it (the upstream draft's, as the lookup saw it). */
  path: string
  primary: string
  /**
   * Variants are keyed on the upstream request as the cache phase sees it (the client's headers
   * plus what authentication changed), at the lookup and at the store alike: transforms edit the
   * draft after the lookup, so the draft after `next()` is not what the lookup used.
   */
  varyOn: Headers
  found: Lookup | undefined
  /** The entry found and its state now: undefined on a miss (or when its path was purged since). */
  entry: Entry | undefined
  state: ReturnType<typeof entryState> | undefined
  /** When the visit began, before the request goes on: what an entry stored from its answer records as sent. */
  sentAt: number
}

/**
 * What storing the origin's answer came to: `reason` why it was not stored (decided at once, or the
 * write failed before the answer); `stored` when the write ended before the answer; neither while
 * it goes on in the background (`done`, for `waitUntil`).
 */
export type Stored = { response: Response; reason: string | undefined; stored: boolean; done: Promise<StoreOutcome> | undefined }

/**
 * Bodies up to this size are stored before the answer leaves (a small complete body costs the
 * client one Cache API write); larger ones stream at once and are stored in the background.
 */
export const AWAITED_BODY_BYTES = 64 * 1024

/** Why a request skips the cache before any lookup (its `Cache-Status` detail), or undefined. */
export function bypassReason(c: Context<AppEnv>): string | undefined {
  const method = c.req.method
  const headers = c.req.raw.headers
  if (method !== 'GET' && method !== 'HEAD') return 'method'
  if (!c.get('route')) return 'no-route'
  // A Range is answered from a complete fresh entry (see the policy); If-Range is the origin's to judge.
  if (headers.has('if-range')) return 'range'
  // Preconditions the gateway doesn't evaluate from an entry: the origin answers them.
  if (headers.has('if-match') || headers.has('if-unmodified-since')) return 'precondition'
  return undefined
}

/** The partition the request's entries live in; undefined when its credentials keep it out of the cache. */
export async function partitionOf(c: Context<AppEnv>, setup: CacheSetup): Promise<{ identified: boolean; partition: string } | undefined> {
  const search = c.get('upstreamRequest').search
  const consumer = c.get('consumer')
  const identified = setup.key.credentialsOf(c.req.raw.headers, search) !== undefined || consumer !== undefined || c.get('claims') !== undefined
  if (!identified) return { identified, partition: 'shared' }
  if (setup.scope === 'consumer' && consumer) return { identified, partition: await consumerPartition(consumer.key) }
  if (setup.scope !== 'public') return undefined
  return { identified, partition: 'shared' }
}

/** Finds the request's entry; a bypass reason when the request may not use the cache. */
export async function visit(c: Context<AppEnv>, setup: CacheSetup): Promise<Visit | { bypass: string }> {
  const where = await partitionOf(c, setup)
  if (!where) return { bypass: 'credentials' }
  const route = c.get('route')
  const draft = c.get('upstreamRequest')
  const runtime = c.get('runtime')
  const sentAt = runtime.now()
  let generation: string
  try {
    generation = await setup.generations.readRoute(route.id, runtime)
  } catch (err) {
    // Without the generation a purged entry could be served: go to the origin instead.
    logEvent('cache_generation_unavailable', { reason: String(err) })
    return { bypass: 'purge-store-unavailable' }
  }
  const url = c.get('url')
  const input = { host: url.host, routeId: route.id, generation, partition: where.partition, path: draft.path, search: draft.search, headers: c.req.raw.headers }
  const primary = setup.key.primary(input)
  const storage = setup.cacheName ? await caches.open(setup.cacheName) : caches.default
  // The draft is this request's alone and nothing edits it while the lookup runs.
  const found = await lookup(storage, url.origin, primary, draft.headers, { now: runtime.now(), holdMs: setup.memoryHoldMs }).catch((err: unknown) => {
    logEvent('cache_lookup_failed', { reason: String(err) })
    return undefined
  })
  const entry = found?.entry && (await unlessPurged(found.entry, setup, draft.path, runtime))
  const state = entry ? entryState(entry.freshness, runtime.now()) : undefined
  // A fresh entry is always served (whole, partial or 304) and nothing is stored: no copy to keep.
  const varyOn = state?.state === 'fresh' ? draft.headers : new Headers(draft.headers)
  return { ...where, storage, origin: url.origin, path: draft.path, primary, varyOn, found, entry, state, sentAt }
}

/**
 * The entry, unless its path was purged after its request was sent (`../http-cache/generation`):
 * read from the path's bucket, which the route's generations were read with, and from the path's
 * own generation only when a path of that bucket was purged since. When they can't be read, the
 * entry is not served (the request goes to the origin, and its answer is stored).
 */
async function unlessPurged(entry: Entry, setup: CacheSetup, path: string, runtime: Runtime): Promise<Entry | undefined> {
  if (!setup.generations.enabled) return entry
  try {
    if (!(await setup.generations.entryPurged(path, entry.sentAt, runtime))) return entry
  } catch (err) {
    logEvent('cache_generation_unavailable', { reason: String(err) })
  }
  entry.response.body?.cancel().catch(() => {})
  return undefined
}

/**
 * Stores the origin's answer when the store decision allows it, and says why not otherwise. The
 * gateway's own sticky cookie is not the origin's: off while judging and storing, back after.
 */
export async function storeFrom(c: Context<AppEnv>, setup: CacheSetup, at: Visit, origin: Response): Promise<Stored> {
  const { pins, maxBodyBytes } = setup
  const reqHeaders = c.req.raw.headers
  const runtime = c.get('runtime')
  const res = pins.names.size > 0 ? new Response(origin.body, origin) : origin
  const { cookies, pinned } = pins.names.size > 0 ? pins.take(res.headers, reqHeaders) : { cookies: [], pinned: [] }
  const decision = decideStore(res.status, res.headers, setup.freshness, at.identified && at.partition === 'shared', runtime.now())
  const length = Number(res.headers.get('content-length') ?? 0)
  const transformedVary = decision.store && varyNames(res.headers.get('vary')).some((name) => setup.transformed.has(name))
  const reason = !decision.store ? decision.reason : transformedVary ? 'vary-transformed' : length > maxBodyBytes ? 'too-large' : undefined
  let result: Stored = { response: res, reason, stored: false, done: undefined }
  if (reason === undefined && decision.store) {
    const input = { cache: at.storage, origin: at.origin, primary: at.primary, primaryRequest: at.found?.primaryRequest, headers: at.varyOn, now: runtime.now(), sentAt: at.sentAt, pins: pinned, response: res, freshness: decision.freshness, maxBodyBytes, strip: setup.strip, unwanted: () => (invalidatedSince(at.origin, at.path, at.sentAt) ? 'invalidated' : undefined) }
    const written = await storeBeforeAnswer(input, AWAITED_BODY_BYTES)
    const outcome = written.outcome
    result = { response: written.response, reason: outcome && !outcome.stored ? outcome.reason : undefined, stored: outcome?.stored ?? false, done: written.done }
  }
  for (const line of cookies) result.response.headers.append('Set-Cookie', line)
  return result
}
