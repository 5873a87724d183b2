/**
 * @module
 * Reading and writing entries through the Cache API, `Vary` included: a `Vary`-ing response is
 * stored under its variant key, and its primary key holds a marker naming the varied headers, so a
 * lookup is one `match`, or two for a `Vary`-ing resource.
 */
import { heldBody, readBounded, readUpTo } from '../core/body'
import { logEvent } from '../core/logging'
import { entryState, storeSeconds, type Freshness } from './freshness'
import { nullBodyStatus, readEntry, readEntryHead, storedResponse, variantsMarker, type Entry } from './entry'
import { cacheRequest, rememberKeyHash, variantKey, varyNames } from './key'
import { drop, endRead, keep, MAX_ENTRY_BYTES, recall, slotKey, startRead, type KeptEntry } from './memory'
import { KEEP_PAST_LIFETIME } from './revalidation'

export type Lookup = {
  entry: Entry | undefined
  /** RFC 9211 `fwd` reason when nothing usable was found. */
  miss: 'uri-miss' | 'vary-miss'
  /** The key the entry was found under (primary, or the variant). */
  keyText: string
  /** The Cache API request for the primary key, when the lookup made one. */
  primaryRequest?: Request | undefined
}

/** A lookup that may use the isolate's memory (`./memory`): its time, and how long a read may be kept. */
export type MemoryUse = { now: number; holdMs: number }

function fromKept(kept: KeptEntry): Entry {
  const { freshness, variants, pins, sentAt } = kept
  if (variants) return { freshness, variants, pins, sentAt, response: new Response(null) }
  return { freshness, pins, sentAt, response: new Response(kept.body, { status: kept.status, statusText: kept.statusText, headers: new Headers(kept.headers) }) }
}

/**
 * Reads a Cache API answer; a fresh, small one whole, to keep it in memory. A body shorter or
 * longer than recorded is no entry (the streamed path would fail the client mid-body instead).
 */
async function readAndKeep(stored: Response, key: string, mark: number, memory: MemoryUse): Promise<Entry | undefined> {
  const head = readEntryHead(stored)
  const fresh = head !== undefined && entryState(head.freshness, memory.now).state === 'fresh'
  if (!head || !fresh || (!head.variants && (head.length === undefined || head.length > MAX_ENTRY_BYTES || nullBodyStatus(head.status)))) return readEntry(stored, head)
  const { freshness, variants, status, statusText, pins, sentAt } = head
  let kept: KeptEntry
  if (variants) {
    stored.body?.cancel().catch(() => {})
    kept = { freshness, variants, status, statusText, headers: [], body: null, pins, sentAt }
  } else {
    const body = new Uint8Array(await stored.arrayBuffer())
    if (body.byteLength !== head.length) return undefined
    kept = { freshness, status, statusText, headers: [...head.headers], body, pins, sentAt }
  }
  keep(key, kept, Math.min(memory.now + memory.holdMs, freshness.storedAt + freshness.ttl * 1000), mark)
  return fromKept(kept)
}

/**
 * The entry at `keyText`: from memory when `memory` allows and has it, else from the Cache API,
 * with the Cache API request it was looked up under (none when memory answered).
 */
async function entryAt(cache: Cache, origin: string, keyText: string, memory: MemoryUse | undefined): Promise<{ entry: Entry | undefined; request?: Request }> {
  if (!memory) {
    const request = await cacheRequest(origin, keyText)
    const stored = await cache.match(request)
    return { entry: stored ? (rememberKeyHash(keyText, request), readEntry(stored)) : undefined, request }
  }
  const key = slotKey(cache, origin, keyText)
  const kept = recall(key, memory.now)
  if (kept) return { entry: fromKept(kept) }
  const mark = startRead(key)
  try {
    const request = await cacheRequest(origin, keyText)
    const stored = await cache.match(request)
    if (!stored) return { entry: undefined, request }
    rememberKeyHash(keyText, request)
    return { entry: await readAndKeep(stored, key, mark, memory), request }
  } finally {
    endRead(key)
  }
}

/**
 * Finds the entry for `primary`, following a `Vary` marker with the request's header values.
 * `primaryRequest`: the Cache API request for `primary` when the lookup made one (a store after a
 * miss puts under it again).
 */
export async function lookup(cache: Cache, origin: string, primary: string, headers: Headers, memory?: MemoryUse): Promise<Lookup> {
  const { entry, request } = await entryAt(cache, origin, primary, memory)
  if (!entry) return { entry: undefined, miss: 'uri-miss', keyText: primary, primaryRequest: request }
  if (!entry.variants) return { entry, miss: 'uri-miss', keyText: primary, primaryRequest: request }
  const keyText = variantKey(primary, entry.variants, headers)
  const variant = (await entryAt(cache, origin, keyText, memory)).entry
  return { entry: variant?.variants ? undefined : variant, miss: 'vary-miss', keyText, primaryRequest: request }
}

export type StoreInput = {
  cache: Cache
  origin: string
  primary: string
  /** The Cache API request for `primary`, when the lookup made one (else it is made again). */
  primaryRequest?: Request | undefined
  /** Request headers a variant is keyed on: the very ones the lookup used (see `lookup`). */
  headers: Headers
  /** The time the entry is stored at (the runtime's `now()`). */
  now: number
  /** Sticky targets that produced the response (`cache/pins`). */
  pins?: readonly string[]
  /** When the request that produced it was sent (recorded for path purges, `./generation`). */
  sentAt?: number
  response: Response
  freshness: Freshness
  maxBodyBytes: number
  strip: readonly string[]
  /**
   * Asked just before each put: a reason the response may no longer be stored (its path was
   * invalidated since its request was sent, `../cache/invalidated`), or undefined to go on. A body
   * written in the background is read for a while after the store was decided.
   */
  unwanted?: (() => string | undefined) | undefined
}

/** What became of a write: stored, or why not (`too-large`, `store-failed`). */
export type StoreOutcome = { stored: true } | { stored: false; reason: string }

/**
 * Puts the entry (and, for a `Vary`-ing response, its marker) with this body. Memory forgets each
 * key before its put and again after it (`./memory`).
 */
async function write(input: StoreInput, bytes: Uint8Array | null): Promise<string | undefined> {
  const { response, freshness } = input
  const names = varyNames(response.headers.get('vary'))
  const keep = storeSeconds(freshness, input.now) + KEEP_PAST_LIFETIME
  const stored = storedResponse(response, bytes, freshness, keep, { strip: input.strip, varyNames: names, pins: input.pins, sentAt: input.sentAt })
  const primaryKey = slotKey(input.cache, input.origin, input.primary)
  const primaryRequest = input.primaryRequest ?? (await cacheRequest(input.origin, input.primary))
  drop(primaryKey)
  try {
    let unwanted = input.unwanted?.()
    if (unwanted !== undefined) return unwanted
    if (names.length === 0) return void (await input.cache.put(primaryRequest, stored))
    const variant = variantKey(input.primary, names, input.headers)
    const variantKeySlot = slotKey(input.cache, input.origin, variant)
    drop(variantKeySlot)
    try {
      // The variant first: a marker must never point at nothing for long (nor at a variant unwanted since).
      await input.cache.put(await cacheRequest(input.origin, variant), stored)
      unwanted = input.unwanted?.()
      if (unwanted !== undefined) return unwanted
      await input.cache.put(primaryRequest, variantsMarker(names, freshness, keep))
    } finally {
      drop(variantKeySlot)
    }
  } finally {
    drop(primaryKey)
  }
}

async function outcomeOf(writing: Promise<string | undefined>): Promise<StoreOutcome> {
  try {
    const unwanted = await writing
    return unwanted === undefined ? { stored: true } : { stored: false, reason: unwanted }
  } catch (err) {
    logEvent('cache_store_failed', { reason: String(err) })
    return { stored: false, reason: 'store-failed' }
  }
}

/**
 * Starts storing `response` and returns the response for the client (its body is teed: the client
 * streams while the store's copy is read, at most `maxBodyBytes` of it) plus the promise of the
 * write's outcome, for `waitUntil`. A body over the limit is not stored; the client's copy is unaffected.
 */
export function store(input: StoreInput): { response: Response; done: Promise<StoreOutcome> } {
  const { response } = input
  let clientBody: ReadableStream | null = null
  let storeBody: ReadableStream | null = null
  if (response.body) [clientBody, storeBody] = response.body.tee()
  const done = (async (): Promise<StoreOutcome> => {
    const bytes = storeBody ? await readUpTo(storeBody, input.maxBodyBytes) : null
    if (bytes === undefined) return { stored: false, reason: 'too-large' }
    return outcomeOf(write(input, bytes))
  })().catch((err: unknown): StoreOutcome => {
    logEvent('cache_store_failed', { reason: String(err) })
    return { stored: false, reason: 'store-failed' }
  })
  return { response: new Response(clientBody, response), done }
}

/**
 * Stores `response` before it is answered when its whole body arrives within `awaitBytes` (and
 * `maxBodyBytes`): the write's `outcome` is then known, and `Cache-Status` can say `stored` only
 * when it is true. A larger body (declared or found so) streams to the client at once and is
 * stored in the background (`done`), with no outcome to tell it yet; one over `maxBodyBytes` is
 * not stored (`too-large`).
 */
export async function storeBeforeAnswer(input: StoreInput, awaitBytes: number): Promise<{ response: Response; outcome?: StoreOutcome; done: Promise<StoreOutcome> }> {
  const { response, maxBodyBytes } = input
  const limit = Math.min(awaitBytes, maxBodyBytes)
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (response.body && declared > limit) return store(input)
  // A body the proxy holds whole: stored from its bytes, and the response goes out as it is.
  const held = heldBody(response)
  if (held !== undefined && held.byteLength <= limit) {
    const done = outcomeOf(write(input, new Uint8Array(held)))
    return { response, outcome: await done, done }
  }
  const read = response.body ? await readBounded(response.body, limit) : { complete: true as const, bytes: null }
  if (!read.complete) {
    const streaming = new Response(read.stream, response)
    if (limit >= maxBodyBytes) return { response: streaming, outcome: { stored: false, reason: 'too-large' }, done: Promise.resolve({ stored: false, reason: 'too-large' }) }
    return store({ ...input, response: streaming })
  }
  const done = outcomeOf(write(input, read.bytes))
  return { response: new Response(read.bytes && response.body ? read.bytes : null, response), outcome: await done, done }
}

/** Forgets an entry in this data centre (the origin has since said it may not be stored). */
export async function forget(cache: Cache, origin: string, keyText: string): Promise<void> {
  const key = slotKey(cache, origin, keyText)
  drop(key)
  await cache.delete(await cacheRequest(origin, keyText)).catch(() => false)
  drop(key)
}
