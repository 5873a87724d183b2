/**
 * @module
 * Fresh entries kept in the isolate's memory for a few seconds, in front of the Cache API. A hit
 * read from the Cache API is a subrequest, its body a stream piped to set its length: about as
 * much work as proxying the request. A hit from memory is a `Response` built from bytes.
 *
 * - Only what a lookup found fresh, whole and small (`MAX_ENTRY_BYTES`) is kept, and only until
 *   the earlier of its freshness end and `holdMs` after it was read (the purge generation's
 *   `cacheSeconds`): what another isolate deletes from the Cache API (an unsafe method's
 *   invalidation) reaches this one within the same seconds as a purge does; stale entries are
 *   always read from the Cache API, so revalidation sees another isolate's refresh.
 * - Every write and delete through this isolate (`store`, `forget`) drops its key before it starts
 *   and again when it has ended, and a read of that key that overlapped it is not kept: this
 *   isolate never serves an entry it replaced.
 * - Keys are the Cache API's (the cache, the origin, the key text: partition and generation
 *   included), so memory shares an entry with no one the Cache API wouldn't.
 * - Bounded by `MAX_BYTES` in all, least recently used dropped first.
 *
 * Per isolate, not per config: the entries are the Cache API's, whatever config reads them.
 */
import type { Freshness } from './freshness'

/** Largest body kept (the size a store awaits before answering: typical API responses). */
export const MAX_ENTRY_BYTES = 64 * 1024
/** All entries together, headers and keys counted too. */
const MAX_BYTES = 8 * 1024 * 1024

export type KeptEntry = {
  freshness: Freshness
  /** Set on a `Vary` marker: the varied header names. */
  variants?: string[]
  status: number
  statusText: string
  /** The headers as the client sees them (bookkeeping removed, origin headers restored). */
  headers: [string, string][]
  body: Uint8Array | null
  pins: string[]
  /** When its request was sent (`Entry.sentAt`). */
  sentAt: number
}

type Slot = { entry: KeptEntry; until: number; bytes: number }

const slots = new Map<string, Slot>()
let keptBytes = 0
/**
 * Counts writes and deletes through this isolate; `changedAt` says when each key that was being
 * read at the time last had one. Only a read in flight can keep what a write replaced, so a write
 * no read overlaps records nothing: a cache miss's store, the common write, leaves nothing behind
 * (records kept for every new key had cost a miss about 2% of its CPU, measured by leaving them out).
 * Bounded by keys and by their characters: a key carries the client's URL (10,000 keys of 8 KB
 * URLs would hold 80 MB of the isolate's 128 MB).
 */
let changes = 0
const changedAt = new Map<string, number>()
let changedChars = 0
const MAX_CHANGED = 10_000
const MAX_CHANGED_CHARS = 1024 * 1024
/** Reads marked before this can't be checked against `changedAt` (it was cleared): not kept. */
let forgottenBefore = 0
/** Keys with a Cache API read under way (how many each), from `startRead` to `endRead`. */
const reading = new Map<string, number>()
const cacheIds = new WeakMap<Cache, number>()
let nextCacheId = 0

export function slotKey(cache: Cache, origin: string, keyText: string): string {
  let id = cacheIds.get(cache)
  if (id === undefined) cacheIds.set(cache, (id = ++nextCacheId))
  return `${id}\n${origin}\n${keyText}`
}

function remove(key: string): void {
  const slot = slots.get(key)
  if (slot === undefined) return
  slots.delete(key)
  keptBytes -= slot.bytes
}

/** The entry kept under `key` while `now` is before its end. */
export function recall(key: string, now: number): KeptEntry | undefined {
  const slot = slots.get(key)
  if (slot === undefined) return undefined
  remove(key)
  if (now >= slot.until) return undefined
  slots.set(key, slot)
  keptBytes += slot.bytes
  return slot.entry
}

/**
 * Starts a Cache API read of `key` whose result may be kept: the mark to pass to `keep`. Every
 * `startRead` must be followed by one `endRead` of the same key, whatever the read comes to.
 */
export function startRead(key: string): number {
  reading.set(key, (reading.get(key) ?? 0) + 1)
  return changes
}

export function endRead(key: string): void {
  const count = reading.get(key) ?? 0
  if (count <= 1) reading.delete(key)
  else reading.set(key, count - 1)
}

/** Keeps `entry` until `until`, unless its key was written or deleted since `mark`. */
export function keep(key: string, entry: KeptEntry, until: number, mark: number): void {
  if (mark < forgottenBefore || (changedAt.get(key) ?? 0) > mark) return
  let bytes = key.length + 256 + (entry.body?.byteLength ?? 0)
  for (const [name, value] of entry.headers) bytes += name.length + value.length
  if (bytes > MAX_ENTRY_BYTES + 16 * 1024) return
  remove(key)
  while (keptBytes + bytes > MAX_BYTES && slots.size > 0) remove(slots.keys().next().value as string)
  slots.set(key, { entry, until, bytes })
  keptBytes += bytes
}

/**
 * Forgets `key` around a write or delete of it: called before the write starts and again once it
 * has ended, so neither what was kept before it nor what a read overlapping it kept survives, and
 * a read still under way is not kept.
 */
export function drop(key: string): void {
  changes++
  if (reading.has(key)) {
    if (!changedAt.has(key)) {
      if (changedAt.size >= MAX_CHANGED || changedChars + key.length > MAX_CHANGED_CHARS) {
        changedAt.clear()
        changedChars = 0
        forgottenBefore = changes
      }
      changedChars += key.length
    }
    changedAt.set(key, changes)
  }
  remove(key)
}
