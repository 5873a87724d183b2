/** Unit tests of the RFC 9111 / 5861 rules: parsing, storability and lifetimes, entry state. */
import { describe, expect, it } from 'vitest'
import { decideStore, entryState, parseCacheControl, type FreshnessOptions } from '../../src/http-cache/freshness'

const NOW = Date.parse('2026-03-01T12:00:00Z')
const options: FreshnessOptions = {
  defaultTtl: 0,
  maxTtl: 3600,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  statuses: new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]),
}

function decide(headers: Record<string, string>, opts: Partial<FreshnessOptions> = {}, status = 200, credentialed = false) {
  return decideStore(status, new Headers(headers), { ...options, ...opts }, credentialed, NOW)
}

describe('parseCacheControl', () => {
  it('reads names case-insensitively, quoted values with commas, and flags conflicting repeats', () => {
    const cc = parseCacheControl('Max-Age=60, private="set-cookie, x-a", ,no-transform, s-maxage=5, s-maxage=9')
    expect(cc.get('max-age')).toBe('60')
    expect(cc.get('private')).toBe('set-cookie, x-a')
    expect(cc.get('no-transform')).toBe(true)
    expect(cc.get('s-maxage')).toBe('conflict')
  })
})

describe('decideStore: the freshness table', () => {
  const table: [string, Record<string, string>, Partial<FreshnessOptions>, { ttl?: number; swr?: number; sie?: number; reason?: string }][] = [
    ['max-age', { 'cache-control': 'max-age=60' }, {}, { ttl: 60 }],
    ['s-maxage over max-age', { 'cache-control': 'max-age=60, s-maxage=10' }, {}, { ttl: 10 }],
    ['Expires minus Date', { expires: 'Sun, 01 Mar 2026 12:02:00 GMT', date: 'Sun, 01 Mar 2026 12:00:00 GMT' }, {}, { ttl: 120 }],
    ['max-age over Expires', { 'cache-control': 'max-age=5', expires: 'Sun, 01 Mar 2026 13:00:00 GMT' }, {}, { ttl: 5 }],
    ['invalid Expires is expired', { expires: '0' }, { defaultTtl: 30 }, { reason: 'no-ttl' }],
    ['no freshness info, no default: not stored', {}, {}, { reason: 'no-ttl' }],
    ['no freshness info: the route default', {}, { defaultTtl: 30 }, { ttl: 30 }],
    ['capped by maxTtl', { 'cache-control': 'max-age=999999' }, {}, { ttl: 3600 }],
    ['malformed max-age is stale', { 'cache-control': 'max-age=abc' }, { defaultTtl: 30 }, { reason: 'no-ttl' }],
    ['no-store', { 'cache-control': 'no-store, max-age=60' }, {}, { reason: 'no-store' }],
    ['private', { 'cache-control': 'private, max-age=60' }, {}, { reason: 'private' }],
    ['private="field"', { 'cache-control': 'private="x-user", max-age=60' }, {}, { reason: 'private' }],
    ['no-cache', { 'cache-control': 'no-cache, max-age=60' }, {}, { reason: 'no-cache' }],
    ['Set-Cookie', { 'cache-control': 'public, max-age=60', 'set-cookie': 'a=1' }, {}, { reason: 'set-cookie' }],
    ['Vary: *', { 'cache-control': 'max-age=60', vary: 'Accept, *' }, {}, { reason: 'vary-star' }],
    ['stale-while-revalidate and stale-if-error', { 'cache-control': 'max-age=10, stale-while-revalidate=20, stale-if-error=300' }, {}, { ttl: 10, swr: 20, sie: 300 }],
    ['max-age=0 with a stale window is stored', { 'cache-control': 'max-age=0, stale-while-revalidate=30' }, {}, { ttl: 0, swr: 30 }],
    ['must-revalidate forbids stale', { 'cache-control': 'max-age=10, must-revalidate, stale-if-error=60' }, { staleWhileRevalidate: 5 }, { ttl: 10, swr: 0, sie: 0 }],
    ['route default stale windows', { 'cache-control': 'max-age=10' }, { staleWhileRevalidate: 5, staleIfError: 50 }, { ttl: 10, swr: 5, sie: 50 }],
    ['s-maxage blocks route default stale windows', { 'cache-control': 's-maxage=10' }, { staleIfError: 50 }, { ttl: 10, sie: 0 }],
    ['an Age as old as the lifetime: expired', { 'cache-control': 'max-age=10', age: '10' }, {}, { reason: 'expired' }],
  ]
  for (const [name, headers, opts, expected] of table) {
    it(name, () => {
      const decision = decide(headers, opts)
      if (expected.reason) {
        expect(decision).toEqual({ store: false, reason: expected.reason })
        return
      }
      expect(decision.store).toBe(true)
      if (!decision.store) return
      expect(decision.freshness.ttl).toBe(expected.ttl)
      if (expected.swr !== undefined) expect(decision.freshness.swr).toBe(expected.swr)
      if (expected.sie !== undefined) expect(decision.freshness.sie).toBe(expected.sie)
    })
  }

  it('statuses: 404 by default, 500 and 206 never', () => {
    expect(decide({ 'cache-control': 'max-age=60' }, {}, 404).store).toBe(true)
    expect(decide({ 'cache-control': 'max-age=60' }, {}, 500)).toEqual({ store: false, reason: 'status' })
    expect(decide({ 'cache-control': 'max-age=60' }, {}, 206)).toEqual({ store: false, reason: 'status' })
    // A Content-Range on a complete response is one more header (RFC 9111 section 3.1).
    expect(decide({ 'cache-control': 'max-age=60', 'content-range': 'bytes 0-1/2' }, { statuses: new Set([200]) }).store).toBe(true)
  })

  it('a credentialed request under scope "public" needs the origin to mark the response shareable', () => {
    expect(decide({ 'cache-control': 'max-age=60' }, {}, 200, true)).toEqual({ store: false, reason: 'credentials' })
    expect(decide({}, { defaultTtl: 60 }, 200, true)).toEqual({ store: false, reason: 'credentials' })
    expect(decide({ 'cache-control': 'public, max-age=60' }, {}, 200, true).store).toBe(true)
    expect(decide({ 'cache-control': 's-maxage=60' }, {}, 200, true).store).toBe(true)
  })

  it("the origin's Age makes the entry older from the start", () => {
    const decision = decide({ 'cache-control': 'max-age=60', age: '15' })
    if (!decision.store) throw new Error('not stored')
    expect(entryState(decision.freshness, NOW)).toEqual({ state: 'fresh', age: 15, remaining: 45 })
  })
})

describe('entryState', () => {
  const f = { storedAt: NOW, ttl: 10, swr: 20, sie: 60 }
  it('moves from fresh to stale-while-revalidate to stale-if-error to expired', () => {
    expect(entryState(f, NOW + 9_999)).toEqual({ state: 'fresh', age: 9, remaining: 1 })
    expect(entryState(f, NOW + 10_000)).toEqual({ state: 'stale-while-revalidate', age: 10, remaining: 0 })
    expect(entryState(f, NOW + 30_000).state).toBe('stale-if-error')
    expect(entryState(f, NOW + 70_000).state).toBe('expired')
  })
})
