/**
 * The isolate's memory of fresh entries (src/http-cache/memory.ts) at the store's level: a Cache
 * API read that overlapped a write of its own key is not kept (the next lookup reads the new
 * entry), whether the write began during the read or the read during the write, while a write of
 * another key doesn't stop it being kept. The Cache API's `match` (or `put`) is held by the test,
 * so the two really overlap.
 */
import { describe, expect, it } from 'vitest'
import { lookup, store, type MemoryUse } from '../../src/http-cache/store'
import { waitFor } from '../support/runtime'

const ORIGIN = 'http://memory.test'
const HEADERS = new Headers()

/**
 * A real named cache whose matches are counted, and held while `hold` is set (after the real
 * match: the answer is what the cache held when the read began); with `holdPuts`, puts are held
 * instead (before the real put: a read meanwhile finds the old entry).
 */
async function heldCache() {
  const real = await caches.open(`memory-test-${crypto.randomUUID()}`)
  let gate: Promise<void> | undefined
  let putGate: Promise<void> | undefined
  let release = () => {}
  let releasePuts = () => {}
  let waiting = 0
  let waitingPuts = 0
  let matches = 0
  const cache = {
    async match(request: RequestInfo, options?: CacheQueryOptions) {
      matches++
      const found = await real.match(request, options)
      if (gate) {
        waiting++
        await gate
      }
      return found
    },
    delete: (request: RequestInfo, options?: CacheQueryOptions) => real.delete(request, options),
    async put(request: RequestInfo, response: Response) {
      if (putGate) {
        waitingPuts++
        await putGate
      }
      return real.put(request, response)
    },
  } as unknown as Cache
  return {
    cache,
    hold: () => (gate = new Promise<void>((resolve) => (release = () => ((gate = undefined), resolve())))),
    release: () => release(),
    holdPuts: () => (putGate = new Promise<void>((resolve) => (releasePuts = () => ((putGate = undefined), resolve())))),
    releasePuts: () => releasePuts(),
    waiting: () => waiting,
    waitingPuts: () => waitingPuts,
    matches: () => matches,
  }
}

async function write(cache: Cache, primary: string, body: string): Promise<void> {
  const now = Date.now()
  const { response, done } = store({
    cache,
    origin: ORIGIN,
    primary,
    headers: HEADERS,
    now,
    response: new Response(body),
    freshness: { storedAt: now, ttl: 60, swr: 0, sie: 0 },
    maxBodyBytes: 1024,
    strip: [],
  })
  await response.body?.cancel()
  expect(await done).toEqual({ stored: true })
}

const memory = (): MemoryUse => ({ now: Date.now(), holdMs: 60_000 })
const bodyAt = async (cache: Cache, primary: string) => (await lookup(cache, ORIGIN, primary, HEADERS, memory())).entry?.response.text()

/** Reads `primary`, the Cache API's answer held until `meanwhile` has run; the body read. */
async function readDuring(held: Awaited<ReturnType<typeof heldCache>>, primary: string, meanwhile: () => Promise<void>) {
  held.hold()
  const reading = bodyAt(held.cache, primary)
  await waitFor(() => held.waiting() === 1)
  await meanwhile()
  held.release()
  return reading
}

describe('a read kept in memory', () => {
  it('is not kept when its key was written while it was read: the next lookup reads the new entry', async () => {
    const held = await heldCache()
    const primary = `overlap-${crypto.randomUUID()}`
    await write(held.cache, primary, 'old')
    expect(await readDuring(held, primary, () => write(held.cache, primary, 'new'))).toBe('old')
    expect(await bodyAt(held.cache, primary)).toBe('new')
    expect(held.matches()).toBe(2)
    // Now kept: no more reads.
    expect(await bodyAt(held.cache, primary)).toBe('new')
    expect(held.matches()).toBe(2)
  })

  it('is not kept when it began while its key was being written: the write forgets it when it ends', async () => {
    const held = await heldCache()
    const primary = `during-write-${crypto.randomUUID()}`
    await write(held.cache, primary, 'old')
    held.holdPuts()
    const writing = write(held.cache, primary, 'new')
    await waitFor(() => held.waitingPuts() === 1)
    // The Cache API still holds the old entry: this read finds it, and would keep it.
    expect(await bodyAt(held.cache, primary)).toBe('old')
    held.releasePuts()
    await writing
    expect(await bodyAt(held.cache, primary)).toBe('new')
    expect(held.matches()).toBe(2)
  })

  it('is kept when another key was written meanwhile', async () => {
    const held = await heldCache()
    const primary = `kept-${crypto.randomUUID()}`
    await write(held.cache, primary, 'mine')
    expect(await readDuring(held, primary, () => write(held.cache, `other-${crypto.randomUUID()}`, 'theirs'))).toBe('mine')
    expect(await bodyAt(held.cache, primary)).toBe('mine')
    expect(held.matches()).toBe(1)
  })
})

describe('the record of keys written', () => {
  // A key text carries the client's URL: three writes of 400 KB keys would hold 1.2 MB of the
  // isolate's memory in the record, were they recorded.
  const long = (i: number) => `${'q'.repeat(400 * 1024)}-${i}-${crypto.randomUUID()}`

  it('holds only keys written while a read of them was under way: other writes leave nothing, and start nothing afresh', async () => {
    const held = await heldCache()
    const primary = `unrecorded-${crypto.randomUUID()}`
    await write(held.cache, primary, 'mine')
    expect(
      await readDuring(held, primary, async () => {
        for (let i = 0; i < 3; i++) await write(held.cache, long(i), 'theirs')
      }),
    ).toBe('mine')
    // No write overlapped a read of its own key: the record stayed empty, and the read was kept.
    expect(await bodyAt(held.cache, primary)).toBe('mine')
    expect(held.matches()).toBe(1)
  })

  it('is bounded by the characters of its keys: past 1 MiB of them it starts afresh, and a read that overlapped is not kept', async () => {
    const held = await heldCache()
    const primary = `bounded-${crypto.randomUUID()}`
    const keys = [0, 1, 2].map(long)
    await write(held.cache, primary, 'mine')
    for (const key of keys) await write(held.cache, key, 'before')
    held.hold()
    const reading = bodyAt(held.cache, primary)
    const readingLong = keys.map((key) => bodyAt(held.cache, key))
    await waitFor(() => held.waiting() === 4)
    // Each long key is written while it is read: recorded, past 1 MiB.
    for (const key of keys) await write(held.cache, key, 'after')
    held.release()
    expect(await reading).toBe('mine')
    expect(await Promise.all(readingLong)).toEqual(['before', 'before', 'before'])
    // The record was started afresh while the read was under way, so the read could not be
    // checked against it and was not kept: the next lookup reads the Cache API again.
    expect(await bodyAt(held.cache, primary)).toBe('mine')
    expect(held.matches()).toBe(5)
  })
})
