/** The exact RFC readings of freshness: HTTP-date (RFC 9110 5.6.7), Age, statuses, targeted fields (RFC 9213). */
import { describe, expect, it } from 'vitest'
import { decideStore, type FreshnessOptions } from '../../src/http-cache/freshness'
import { parseHttpDate } from '../../src/http-cache/http-date'
import { parseTargeted } from '../../src/http-cache/targeted'

const NOW = Date.parse('2026-03-01T12:00:00Z')
const DATE = 'Sun, 01 Mar 2026 12:00:00 GMT'
const policyOptions: FreshnessOptions = {
  defaultTtl: 0,
  maxTtl: 86_400,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  statuses: new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]),
  anyStatusWhenExplicit: true,
  targeted: ['edgeway-cache-control', 'cdn-cache-control'],
}
const ttlOf = (headers: Record<string, string>, status = 200) => {
  const decision = decideStore(status, new Headers(headers), policyOptions, false, NOW)
  return decision.store ? decision.freshness.ttl : decision.reason
}

describe('HTTP-date', () => {
  it('reads the three forms, RFC 850 years in the last 50 years', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37))
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37))
    expect(parseHttpDate('Monday, 01-Jan-35 00:00:00 GMT', NOW)).toBe(Date.UTC(2035, 0, 1))
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994', NOW)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37))
  })
  it.each([
    ['0'],
    ['Sun, 06 Nov 1994 08:49:37 UTC'],
    ['Sun 06 Nov 1994 08:49:37 GMT'],
    ['Sun, 06  Nov 1994 08:49:37 GMT'],
    ['Sun, 06-Nov-1994 08:49:37 GMT'],
    ['Sun, 06 Nov 1994 8:49:37 GMT'],
    ['Sun, 31 Feb 1994 08:49:37 GMT'],
    ['2026-03-01T12:00:00Z'],
  ])('%s is not a date', (value) => expect(parseHttpDate(value, NOW)).toBeUndefined())
})

describe('freshness as the RFCs read it', () => {
  it('an Expires that is not an HTTP-date is already expired, even one Date.parse accepts', () => {
    expect(ttlOf({ expires: 'Sun, 01 Mar 2026 13:00:00 UTC', date: DATE })).toBe('no-ttl')
    expect(ttlOf({ expires: 'Sunday, 01-Mar-26 13:00:00 GMT', date: DATE })).toBe(3600)
  })
  it('Age: the first value counts, and one that is not delta-seconds is ignored', () => {
    expect(ttlOf({ 'cache-control': 'max-age=3600', age: '7200.0' })).toBe(3600)
    expect(ttlOf({ 'cache-control': 'max-age=3600', age: '7200, 0' })).toBe('expired')
    expect(ttlOf({ 'cache-control': 'max-age=3600', age: '0, 7200' })).toBe(3600)
  })
  it('any final status with explicit freshness is stored; without it only the heuristic ones, never 206', () => {
    for (const status of [299, 302, 400, 500, 503, 599]) expect(ttlOf({ 'cache-control': 'max-age=60' }, status)).toBe(60)
    expect(ttlOf({ expires: 'Sun, 01 Mar 2026 12:01:00 GMT', date: DATE }, 500)).toBe(60)
    expect(ttlOf({}, 500)).toBe('status')
    expect(ttlOf({ 'cache-control': 'max-age=60' }, 206)).toBe('status')
    // About the caller, not the resource: never stored (a deliberate difference).
    for (const status of [401, 407, 429]) expect(ttlOf({ 'cache-control': 'public, max-age=60' }, status)).toBe('status')
  })
})

describe('heuristic freshness (RFC 9111 4.2.2)', () => {
  const lastModified = { 'last-modified': 'Sun, 01 Feb 2026 12:00:00 GMT', date: DATE } // 28 days before
  const decide = (headers: Record<string, string>, status: number, heuristicFraction?: number) => {
    const decision = decideStore(status, new Headers(headers), { ...policyOptions, heuristicFraction }, false, NOW)
    return decision.store ? decision.freshness.ttl : decision.reason
  }
  it('only when configured, only for heuristically cacheable statuses, never over explicit freshness', () => {
    expect(decide(lastModified, 200)).toBe('no-ttl')
    expect(decide(lastModified, 200, 0.01)).toBe(Math.floor(28 * 86_400 * 0.01))
    expect(decide(lastModified, 404, 0.01)).toBe(Math.floor(28 * 86_400 * 0.01))
    expect(decide(lastModified, 500, 0.1)).toBe('status')
    expect(decide({ ...lastModified, 'cache-control': 'max-age=5' }, 200, 0.1)).toBe(5)
    expect(decide({ 'last-modified': 'yesterday' }, 200, 0.1)).toBe('no-ttl')
  })
})

describe('targeted cache control (RFC 9213)', () => {
  it('CDN-Cache-Control replaces Cache-Control and Expires; the route field goes first', () => {
    expect(ttlOf({ 'cdn-cache-control': 'max-age=600', 'cache-control': 'no-store' })).toBe(600)
    expect(ttlOf({ 'cdn-cache-control': 'max-age=0', expires: 'Sun, 01 Mar 2026 13:00:00 GMT', date: DATE })).toBe('no-ttl')
    expect(ttlOf({ 'cdn-cache-control': 'max-age=1', 'cache-control': 'max-age=3600' })).toBe(1)
    expect(ttlOf({ 'cdn-cache-control': 'private', 'cache-control': 'max-age=3600' })).toBe('private')
    expect(ttlOf({ 'cdn-cache-control': 'no-cache', 'cache-control': 'max-age=3600' })).toBe('no-cache')
    expect(ttlOf({ 'edgeway-cache-control': 'max-age=5', 'cdn-cache-control': 'max-age=600' })).toBe(5)
  })
  it('an invalid dictionary, or a max-age that is not an integer, is ignored as a whole', () => {
    expect(parseTargeted('max-age=10000, &&&&&')).toBeUndefined()
    expect(parseTargeted('max-age="10000"')).toBeUndefined()
    expect(parseTargeted('MaX-aGe=10')).toBeUndefined()
    expect(parseTargeted('max-age =10')).toBeUndefined()
    expect(ttlOf({ 'cdn-cache-control': 'max-age=10000, &&&&&', 'cache-control': 'no-store' })).toBe('no-store')
    expect([...parseTargeted('foo, max-age=3600;x=1')!]).toEqual([['foo', true], ['max-age', '3600']])
  })
})
