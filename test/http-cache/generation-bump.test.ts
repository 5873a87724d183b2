/** Path generation bumps after unsafe methods: at most one KV write per path per second. */
import { describe, expect, it } from 'vitest'
import { generationStore } from '../../src/http-cache/generation'
import { manualRuntime } from '../support/runtime'

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
    expect(writes).toHaveLength(1)
    const later = [store.bumpPath(path, runtime), store.bumpPath(path, runtime), store.bumpPath(path, runtime)]
    await runtime.until(() => runtime.pendingTimers() === 1)
    expect(writes).toHaveLength(1)
    await runtime.advance(1_000)
    await Promise.all(later)
    expect(writes).toHaveLength(2)
    // Another path is not held back by this one.
    await store.bumpPath(`${path}/other`, runtime)
    expect(writes).toHaveLength(3)
  })
})
