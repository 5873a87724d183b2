/**
 * @module
 * Purge by generation. `cache.delete` clears one data centre only, so a purge instead changes a
 * generation value that is part of every key: entries stored under the old value are never looked
 * up again and expire on their own. Three generations make up a key's part: everything, the route,
 * and the path (every query string and variant of it).
 *
 * Generations live in Workers KV (one bulk read), cached per isolate for a few seconds; a purge
 * writes a fresh value (its time, then random: no read-modify-write, so concurrent purges can't
 * lose one) and updates this isolate's copy at once. Other data centres see it once KV propagates
 * (KV's edge read cache, up to about 60 s) and their isolate copy expires.
 *
 * The `cache` policy keys entries by the first two only (`readRoute`), and asks of a found entry
 * whether its path was purged since its request was sent (`entryPurged`). A path's generation value
 * holds its purge time; so does the value of its bucket (one of 16 keys, by the path's hash), which
 * every purge of a path in it rewrites. The buckets are read with the route's generations, in the
 * same KV read, so a found entry reads its path's own generation only when a path of its bucket was
 * purged since the entry was sent: long-tail paths neither miss nor hit through a KV read of their
 * own. A bucket holds the last write's time: of two purges in one bucket written within a moment
 * of each other in two places, the older may land last, which the clock margin covers (1 s).
 * Cached aggregation calls still key by all three (`read`).
 */
import * as v from 'valibot'
import { Name } from '../core/schema'
import { sha256Hex } from '../core/encoding'
import { TextMemo } from '../core/text-memo'
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
const local = new Map<string, { value: string; until: number; own: boolean; written: number }>()
const LOCAL_MAX = 10_000
/**
 * Counts this isolate's generation writes; a copy records the count when it was written here. A KV
 * read that began before this isolate wrote a key may bring back the value before the write: it
 * must not replace the written copy, or the isolate would key by the old generation again (serve
 * what it just purged) until the copy expires.
 */
let writes = 0

/**
 * Per isolate: binding + KV key -> until when a request's KV read of it is under way. Bounded:
 * a read slower than `READ_GRACE_MS` lets the next request read for itself.
 */
const reading = new Map<string, number>()
const READ_GRACE_MS = 2_000

/**
 * A path's KV key, by path: hashing it again on every lookup of the same path is wasted work.
 * Bounded by the characters held, not by the number of paths: clients choose paths, and long ones.
 */
const pathKeys = new TextMemo<string>(512 * 1024)

const ALL_KEY = 'cache-gen:all'
const routeKey = (route: string) => `cache-gen:route:${route}`
const PATH_KEY_PREFIX = 'cache-gen:url:'
/**
 * The bucket of a path's key: its hash's first hex digit, so 16 buckets. More would make a found
 * entry read its path's own generation less often after unrelated purges, and cost every isolate
 * more key reads each time it reads the route's generations.
 */
const bucketOf = (pathKey: string) => `cache-gen:paths:${pathKey[PATH_KEY_PREFIX.length]}`
const BUCKET_KEYS = [...'0123456789abcdef'].map((digit) => `cache-gen:paths:${digit}`)

async function kvKeyOf(target: PurgeTarget): Promise<string> {
  if ('all' in target) return ALL_KEY
  if ('route' in target) return routeKey(target.route)
  let key = pathKeys.get(target.path)
  if (key === undefined) {
    key = `${PATH_KEY_PREFIX}${(await sha256Hex(target.path)).slice(0, 32)}`
    pathKeys.set(target.path, key)
  }
  return key
}

/**
 * Forgets this isolate's copies of generations and when it last bumped each, so a test reads and
 * writes KV as a fresh isolate would: a bump recorded under another test's moved clock had made a
 * later test's bump of a path in the same bucket wait that far ahead (past its 20 s timeout).
 */
export function forgetGenerationCopies(): void {
  local.clear()
  reading.clear()
  lastBump.clear()
}

/** `own`: written by this isolate, on its own clock (no margin for another's). */
function remember(binding: string, key: string, value: string, ttlMs: number, now: number, own = false): void {
  if (local.size >= LOCAL_MAX) local.clear()
  local.set(`${binding}\n${key}`, { value, until: now + ttlMs, own, written: own ? ++writes : 0 })
}

/** This isolate's own write of a key after `since` (a count of `writes`), if there was one: it outranks a read begun before it. */
function writtenSince(binding: string, key: string, since: number): string | undefined {
  const copy = local.get(`${binding}\n${key}`)
  return copy?.own && copy.written > since ? copy.value : undefined
}

export type GenerationStore = {
  /** Whether purges can reach this store (a KV binding is configured and present). */
  readonly enabled: boolean
  /** The generation part of a key: `<all>.<route>.<path>`. Rejects when KV can't be read. */
  read(routeId: string, path: string, runtime: Runtime): Promise<string>
  /**
   * The generation part of a key without the path's: `<all>.<route>`. Its KV read, when one is
   * made, also reads the path buckets `entryPurged` needs. Rejects when KV can't be read.
   */
  readRoute(routeId: string, runtime: Runtime): Promise<string>
  /**
   * Whether an entry of `path` whose request was sent at `sentAt` is purged: its bucket was
   * purged since (or less than the clock margin before, when another isolate wrote it), and then
   * its path too. Rejects when KV can't be read.
   */
  entryPurged(path: string, sentAt: number, runtime: Runtime): Promise<boolean>
  /**
   * Bumps a path's generation, then its bucket's, so that every location forgets it (an unsafe
   * method changed it). KV takes about one write a second per key: writes of one key are
   * coalesced, at most one a second; one asked for sooner waits for the second to end, and those
   * asked for meanwhile ride on it (its value's time is later than theirs).
   */
  bumpPath(path: string, runtime: Runtime): Promise<void>
}

/** Per isolate: binding + KV key -> when its last bump was written, and the keys with one waiting. */
const lastBump = new Map<string, number>()
const waitingBump = new Set<string>()
const BUMP_INTERVAL_MS = 1_000

/**
 * How far behind another machine's clock the purger's may be: an entry whose request was sent
 * less than this after a purge written elsewhere counts as purged too (it might predate it).
 * Workers' clocks are NTP-synchronised, far closer than this.
 */
export const PURGE_CLOCK_MARGIN_MS = 1_000

/** The time a generation value was written (`purge`: base-36 ms, a dash, random); 0 for never. */
function purgedAt(value: string): number {
  if (value === '0') return 0
  const time = parseInt(value.slice(0, value.indexOf('-')), 36)
  // A value this code did not write: as if purged just now, so nothing stored before is served.
  return Number.isFinite(time) && time > 0 ? time : Number.MAX_SAFE_INTEGER
}

/** Whether an entry whose request was sent at `sentAt` is gone, its path purged through `through`. */
function purgedEntry(sentAt: number, through: number): boolean {
  return through > 0 && sentAt <= through
}

export function generationStore(kv: KVNamespace | undefined, binding: string, cacheSeconds: number): GenerationStore {
  const ttlMs = cacheSeconds * 1000
  /** The copy of `key` to use now: a fresh one, or one just expired while another request reads the key. */
  const usable = (key: string, now: number) => {
    const id = `${binding}\n${key}`
    const hit = local.get(id)
    return hit && (hit.until > now || (reading.get(id) ?? 0) > now) ? hit.value : undefined
  }
  /**
   * The values of `keys`, from this isolate's copies while they last, else one bulk KV read, which
   * also reads those of `alongside` whose copies are gone (they are asked for next). A request
   * can't await another request's I/O on Workers, so there is no shared read: while one request
   * reads a key, the others keep its copy that just expired, for at most `READ_GRACE_MS`.
   */
  async function values(keys: string[], runtime: Runtime, alongside: readonly string[] = []): Promise<string[]> {
    const now = runtime.now()
    const found = keys.map((key) => usable(key, now))
    const missing = keys.filter((_, i) => found[i] === undefined)
    if (missing.length > 0) {
      const others = alongside.filter((key) => !missing.includes(key) && usable(key, now) === undefined)
      const asked = [...missing, ...others]
      for (const key of asked) reading.set(`${binding}\n${key}`, now + READ_GRACE_MS)
      const writesBefore = writes
      try {
        const read = await kv!.get(asked, 'text')
        const at = runtime.now()
        for (const key of asked) {
          let value = writtenSince(binding, key, writesBefore)
          if (value === undefined) {
            value = read.get(key) ?? '0'
            remember(binding, key, value, ttlMs, at)
          }
          const i = keys.indexOf(key)
          if (i >= 0) found[i] = value
        }
      } finally {
        for (const key of asked) reading.delete(`${binding}\n${key}`)
      }
    }
    return found as string[]
  }
  /** Up to when a key's purge reaches (ms; 0: never purged): its time, plus the margin unless this isolate wrote it. */
  async function purgedThrough(key: string, runtime: Runtime, alongside?: readonly string[]): Promise<number> {
    const at = purgedAt((await values([key], runtime, alongside))[0]!)
    return at === 0 || local.get(`${binding}\n${key}`)?.own ? at : at + PURGE_CLOCK_MARGIN_MS
  }
  /** Writes a fresh value of `key`, at most once a second (see `bumpPath`); false when it rides on a write waiting. */
  async function coalescedWrite(key: string, runtime: Runtime): Promise<boolean> {
    const id = `${binding}\n${key}`
    if (waitingBump.has(id)) return false
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
    await writeGeneration(kv!, binding, key, cacheSeconds, runtime)
    return true
  }
  return {
    enabled: kv !== undefined,
    async read(routeId, path, runtime) {
      if (!kv) return '0.0.0'
      return (await values([ALL_KEY, routeKey(routeId), await kvKeyOf({ path })], runtime)).join('.')
    },
    async readRoute(routeId, runtime) {
      if (!kv) return '0.0'
      return (await values([ALL_KEY, routeKey(routeId)], runtime, BUCKET_KEYS)).join('.')
    },
    async entryPurged(path, sentAt, runtime) {
      if (!kv) return false
      const key = await kvKeyOf({ path })
      // Nothing in the bucket purged since the entry was sent: neither was its path (no KV read of it).
      if (!purgedEntry(sentAt, await purgedThrough(bucketOf(key), runtime, BUCKET_KEYS))) return false
      return purgedEntry(sentAt, await purgedThrough(key, runtime))
    },
    async bumpPath(path, runtime) {
      if (!kv) return
      const key = await kvKeyOf({ path })
      // Riding on a write of the path waiting: that bump writes the bucket after it.
      if (!(await coalescedWrite(key, runtime))) return
      // The bucket after the path: a bump that rides on another path's write of the bucket has
      // written its own path already, and the bucket's time is at least its path's.
      await coalescedWrite(bucketOf(key), runtime)
    },
  }
}

/** Writes a fresh generation value of one key (its time, then random); returns it. */
async function writeGeneration(kv: KVNamespace, binding: string, key: string, cacheSeconds: number, runtime: Runtime): Promise<string> {
  const value = `${runtime.now().toString(36)}-${runtime.randomId().slice(0, 8)}`
  await kv.put(key, value)
  remember(binding, key, value, cacheSeconds * 1000, runtime.now(), true)
  return value
}

/**
 * Bumps one generation; returns the new value. A path's bucket is written first: when the path's
 * write fails, the purge is reported failed and a found entry merely reads its path's generation.
 */
export async function purge(kv: KVNamespace, binding: string, target: PurgeTarget, cacheSeconds: number, runtime: Runtime): Promise<string> {
  const key = await kvKeyOf(target)
  if ('path' in target) await writeGeneration(kv, binding, bucketOf(key), cacheSeconds, runtime)
  return writeGeneration(kv, binding, key, cacheSeconds, runtime)
}
