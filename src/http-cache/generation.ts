/**
 * @module
 * Purge by generation. `cache.delete` clears one data centre only, so a purge instead changes a
 * generation value that is part of every key: entries stored under the old value are never looked
 * up again and expire on their own. Three generations make up a key's part: everything, the route,
 * and the path (every query string and variant of it).
 *
 * Generations live in Workers KV (one bulk read for all three), cached per isolate for a few
 * seconds; a purge writes a fresh random value (no read-modify-write, so concurrent purges can't
 * lose one) and updates this isolate's copy at once. Other data centres see it once KV propagates
 * (KV's edge read cache, up to about 60 s) and their isolate copy expires.
 */
import * as v from 'valibot'
import { Name } from '../core/schema'
import { sha256Hex } from '../core/encoding'
import type { Runtime } from '../core/runtime'

/** Where generations live; the cache policy's `purge` and a cached aggregation call's `cache.purge`. */
export const PurgeSchema = v.optional(
  v.strictObject({
    kv: v.pipe(v.optional(Name, 'CACHE_KV'), v.description(SCHEMA_DOCS ? 'KV binding holding purge generations.' : '')),
    cacheSeconds: v.pipe(
      v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(300)), 5),
      v.description(
        SCHEMA_DOCS
          ? 'How long (s) an isolate reuses a purge generation it read. For the `cache` policy also how long it keeps a fresh entry in memory: an entry another isolate deleted from the Cache API is served from this isolate\'s memory for at most this long.'
          : '',
      ),
    ),
  }),
  {},
)

export type PurgeSettings = v.InferOutput<typeof PurgeSchema>

export type PurgeTarget = { all: true } | { route: string } | { path: string }

/**
 * Per isolate, shared by every route and config: binding + KV key -> value and expiry (ms). Per
 * isolate because a generation is the KV's, not a config's: a hot reload must not forget a purge.
 * Expiry is read against the caller's runtime; bounded by `LOCAL_MAX`.
 */
const local = new Map<string, { value: string; until: number }>()
const LOCAL_MAX = 10_000

/** A path's KV key, by path: hashing it again on every lookup of the same path is wasted work. Bounded like `local`. */
const pathKeys = new Map<string, string>()

const ALL_KEY = 'cache-gen:all'
const routeKey = (route: string) => `cache-gen:route:${route}`

async function kvKeyOf(target: PurgeTarget): Promise<string> {
  if ('all' in target) return ALL_KEY
  if ('route' in target) return routeKey(target.route)
  let key = pathKeys.get(target.path)
  if (key === undefined) {
    key = `cache-gen:url:${(await sha256Hex(target.path)).slice(0, 32)}`
    if (pathKeys.size >= LOCAL_MAX) pathKeys.clear()
    pathKeys.set(target.path, key)
  }
  return key
}

function remember(binding: string, key: string, value: string, ttlMs: number, now: number): void {
  if (local.size >= LOCAL_MAX) local.clear()
  local.set(`${binding}\n${key}`, { value, until: now + ttlMs })
}

export type GenerationStore = {
  /** Whether purges can reach this store (a KV binding is configured and present). */
  readonly enabled: boolean
  /** The generation part of a key: `<all>.<route>.<path>`. Rejects when KV can't be read. */
  read(routeId: string, path: string, runtime: Runtime): Promise<string>
  /**
   * Bumps a path's generation so that every location forgets it (an unsafe method changed it).
   * KV takes about one write a second per key: bumps of one path are coalesced, at most one a
   * second; one asked for sooner waits for the second to end, and those asked for meanwhile ride on it.
   */
  bumpPath(path: string, runtime: Runtime): Promise<void>
}

/** Per isolate: binding + KV key -> when its last bump was written, and the keys with one waiting. */
const lastBump = new Map<string, number>()
const waitingBump = new Set<string>()
const BUMP_INTERVAL_MS = 1_000

export function generationStore(kv: KVNamespace | undefined, binding: string, cacheSeconds: number): GenerationStore {
  const ttlMs = cacheSeconds * 1000
  return {
    enabled: kv !== undefined,
    async read(routeId, path, runtime) {
      if (!kv) return '0.0.0'
      const keys = [ALL_KEY, routeKey(routeId), await kvKeyOf({ path })]
      const now = runtime.now()
      const values = keys.map((key) => {
        const hit = local.get(`${binding}\n${key}`)
        return hit && hit.until > now ? hit.value : undefined
      })
      const missing = keys.filter((_, i) => values[i] === undefined)
      if (missing.length > 0) {
        const read = await kv.get(missing, 'text')
        for (const key of missing) {
          const value = read.get(key) ?? '0'
          remember(binding, key, value, ttlMs, runtime.now())
          values[keys.indexOf(key)] = value
        }
      }
      return values.join('.')
    },
    async bumpPath(path, runtime) {
      if (!kv) return
      const id = `${binding}\n${await kvKeyOf({ path })}`
      if (waitingBump.has(id)) return
      const wait = (lastBump.get(id) ?? -Infinity) + BUMP_INTERVAL_MS - runtime.now()
      if (wait > 0) {
        waitingBump.add(id)
        try {
          await runtime.sleep(wait)
        } finally {
          waitingBump.delete(id)
        }
      }
      if (lastBump.size >= LOCAL_MAX) lastBump.clear()
      lastBump.set(id, runtime.now())
      await purge(kv, binding, { path }, cacheSeconds, runtime)
    },
  }
}

/** Bumps one generation; returns the new value. */
export async function purge(kv: KVNamespace, binding: string, target: PurgeTarget, cacheSeconds: number, runtime: Runtime): Promise<string> {
  const key = await kvKeyOf(target)
  const value = `${runtime.now().toString(36)}-${runtime.randomId().slice(0, 8)}`
  await kv.put(key, value)
  remember(binding, key, value, cacheSeconds * 1000, runtime.now())
  return value
}
