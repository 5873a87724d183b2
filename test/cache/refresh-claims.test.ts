/**
 * The isolate's claims of background refreshes (src/cache/refresh.ts, stale-while-revalidate): one
 * refresh per key at a time, and a bounded record of them. Keys are cache key texts, which carry
 * the client's URL, so the record is bounded by their characters as well as their number.
 */
import { describe, expect, it } from 'vitest'
import { claimRefresh, releaseRefresh } from '../../src/cache/refresh'

const TIMEOUT_MS = 10_000

describe('refresh claims', () => {
  it('gives one claim per key until it is released or times out', () => {
    const key = `one-${crypto.randomUUID()}`
    const now = 1_000_000
    expect(claimRefresh(key, TIMEOUT_MS, now)).toBe(true)
    expect(claimRefresh(key, TIMEOUT_MS, now + 1)).toBe(false)
    expect(claimRefresh(key, TIMEOUT_MS, now + TIMEOUT_MS)).toBe(true)
    releaseRefresh(key, TIMEOUT_MS, 0, now + TIMEOUT_MS + 1)
    expect(claimRefresh(key, TIMEOUT_MS, now + TIMEOUT_MS + 2)).toBe(true)
    releaseRefresh(key, TIMEOUT_MS, 0, now + TIMEOUT_MS + 3)
  })

  it('holds at most 1 MiB of key text: a further key waits until a claim expires', () => {
    const now = 2_000_000
    const long = (i: number) => `${'p'.repeat(300 * 1024)}-${i}-${crypto.randomUUID()}`
    const keys = [long(0), long(1), long(2)]
    for (const key of keys) expect(claimRefresh(key, TIMEOUT_MS, now)).toBe(true)
    // 900 KiB held; a fourth 300 KiB key would pass the bound while the three are running.
    const fourth = long(3)
    expect(claimRefresh(fourth, TIMEOUT_MS, now + 1)).toBe(false)
    // A short key still fits.
    const short = `short-${crypto.randomUUID()}`
    expect(claimRefresh(short, TIMEOUT_MS, now + 1)).toBe(true)
    releaseRefresh(short, TIMEOUT_MS, 0, now + 2)
    // A released claim gives its room back.
    releaseRefresh(keys[0]!, TIMEOUT_MS, 0, now + 2)
    expect(claimRefresh(fourth, TIMEOUT_MS, now + 3)).toBe(true)
    // Once the others time out, they are swept to make room.
    const fifth = long(4)
    expect(claimRefresh(fifth, TIMEOUT_MS, now + 4)).toBe(false)
    expect(claimRefresh(fifth, TIMEOUT_MS, now + TIMEOUT_MS)).toBe(true)
    for (const key of [keys[1]!, keys[2]!, fourth, fifth]) releaseRefresh(key, TIMEOUT_MS, 0, now + TIMEOUT_MS + 1)
  })
})
