/**
 * Path generation bumps after unsafe methods: the path's generation, then its bucket's (one of 16
 * keys by the path's hash), each written at most once a second per key; and how generations are read.
 */
import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { generationStore, purge } from '../../src/http-cache/generation'
import { manualRuntime, waitFor } from '../support/runtime'
import { bucketKey, pathInBucket, pathKey } from '../support/generations'

/** A KV namespace that records its writes. */
function recordingKv() {
  const writes: string[] = []
  const kv = { put: async (key: string) => void writes.push(key), get: async () => new Map() } as unknown as KVNamespace
  return { kv, writes }
}

describe('bumpPath', () => {
  it('coalesces bumps of one path: one write now, one at the end of the second for all those asked meanwhile', async () => {
    const runtime = manualRuntime()
    const { kv, writes } = recordingKv()
    const store = generationStore(kv, 'BUMP_TEST', 5)
    const path = `/bump/${crypto.randomUUID()}`
    await store.bumpPath(path, runtime)
    expect(writes).toEqual([await pathKey(path), await bucketKey(path)])
    const later = [store.bumpPath(path, runtime), store.bumpPath(path, runtime), store.bumpPath(path, runtime)]
    await runtime.until(() => runtime.pendingTimers() === 1)
    expect(writes).toHaveLength(2)
    await runtime.advance(1_000)
    await Promise.all(later)
    expect(writes.slice(2)).toEqual([await pathKey(path), await bucketKey(path)])
    // A path in another bucket is not held back by this one.
    const other = await pathInBucket(`${path}/other`, path, false)
    await store.bumpPath(other, runtime)
    expect(writes.slice(4)).toEqual([await pathKey(other), await bucketKey(other)])
  })

  it('paths of one bucket write their own generations at once and share the bucket\'s write, at most one a second', async () => {
    const runtime = manualRuntime()
    const { kv, writes } = recordingKv()
    const store = generationStore(kv, 'BUMP_BUCKET_TEST', 5)
    const first = `/bucket/${crypto.randomUUID()}`
    const second = await pathInBucket(`${first}/second`, first, true)
    const third = await pathInBucket(`${first}/third`, first, true)
    await store.bumpPath(first, runtime)
    const waiting = store.bumpPath(second, runtime)
    await runtime.until(() => runtime.pendingTimers() === 1)
    // The second path's own generation is written; its bucket's waits for the second to end.
    expect(writes).toEqual([await pathKey(first), await bucketKey(first), await pathKey(second)])
    // A third rides on that wait: its path now, no bucket write of its own.
    await store.bumpPath(third, runtime)
    expect(writes.slice(3)).toEqual([await pathKey(third)])
    await runtime.advance(1_000)
    await waiting
    expect(writes.slice(4)).toEqual([await bucketKey(first)])
  })
})

describe('path buckets', () => {
  it('are read with the route\'s generations; a bucket whose copy alone expired is read again with the others, each key once', async () => {
    const runtime = manualRuntime()
    const asked: string[][] = []
    const kv = { get: async (keys: string[]) => (asked.push(keys), new Map()) } as unknown as KVNamespace
    const store = generationStore(kv, `BUCKET_READ_TEST_${crypto.randomUUID()}`, 1)
    const path = `/read/${crypto.randomUUID()}`
    await store.readRoute('r', runtime)
    expect(asked).toHaveLength(1)
    expect(new Set(asked[0]).size).toBe(18)
    // An entry sent before nothing was purged in its bucket: no read at all.
    expect(await store.entryPurged(path, runtime.now(), runtime)).toBe(false)
    expect(asked).toHaveLength(1)
    await runtime.advance(1_000)
    expect(await store.entryPurged(path, runtime.now(), runtime)).toBe(false)
    expect(asked).toHaveLength(2)
    expect(asked[1]![0]).toBe(await bucketKey(path))
    expect(asked[1]).toHaveLength(16)
    expect(new Set(asked[1]).size).toBe(16)
  })

  it('while one request reads generations again, the others keep the copies that just expired, for at most 2 s', async () => {
    const runtime = manualRuntime()
    let release: () => void = () => {}
    let reads = 0
    const kv = {
      get: async (keys: string[]) => {
        const read = ++reads
        if (read === 2) await new Promise<void>((resolve) => (release = resolve))
        return new Map(keys.map((key) => [key, `${read}`]))
      },
    } as unknown as KVNamespace
    const store = generationStore(kv, `READ_ONCE_TEST_${crypto.randomUUID()}`, 1)
    expect(await store.readRoute('r', runtime)).toBe('1.1')
    await runtime.advance(1_000)
    const reading = store.readRoute('r', runtime)
    // A request can't await another's KV read: it keeps the expired copy, and reads nothing itself.
    expect(await store.readRoute('r', runtime)).toBe('1.1')
    expect(reads).toBe(2)
    // A read that takes longer than 2 s no longer holds the others back.
    await runtime.advance(2_000)
    expect(await store.readRoute('r', runtime)).toBe('3.3')
    release()
    expect(await reading).toBe('2.2')
  })
})

describe('a purge while this isolate reads generations', () => {
  it('is not undone by the read: the value the read found, older than the purge, does not replace the purge\'s', async () => {
    const runtime = manualRuntime()
    const real = (env as { CACHE_KV: KVNamespace }).CACHE_KV
    // The real KV namespace, its first read held after it has read: what KV gave before the purge.
    let release = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    let reads = 0
    const kv = {
      async get(keys: string[], type: 'text') {
        const read = ++reads
        const found = await real.get(keys, type)
        if (read === 1) await held
        return found
      },
      put: (key: string, value: string) => real.put(key, value),
    } as unknown as KVNamespace
    const binding = `PURGE_RACE_TEST_${crypto.randomUUID()}`
    const route = `race-${crypto.randomUUID()}`
    const store = generationStore(kv, binding, 5)
    const reading = store.readRoute(route, runtime)
    await waitFor(() => reads === 1)
    const purged = await purge(kv, binding, { route }, 5, runtime)
    // `<all>.<route>`: the namespace is shared with other tests, whose purges of everything show in the first part.
    const routePart = async (reading: Promise<string>) => (await reading).split('.')[1]
    expect(await routePart(store.readRoute(route, runtime))).toBe(purged)
    release()
    // The read that began before the purge may answer its own request with either value...
    expect(['0', purged]).toContain(await routePart(reading))
    // ...but every later request in this isolate keys by the purge's generation.
    expect(await routePart(store.readRoute(route, runtime))).toBe(purged)
    await runtime.advance(4_000)
    expect(await routePart(store.readRoute(route, runtime))).toBe(purged)
  })
})
