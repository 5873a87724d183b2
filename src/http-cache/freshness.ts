/**
 * @module
 * Freshness and storability of an origin response for a shared cache (RFC 9111 sections 3, 4.2 and
 * 5.2; RFC 5861 for the stale windows). Pure functions over headers and a time (`now`, from the
 * caller's runtime), so each rule is tested on its own and tests move the clock instead of sleeping.
 *
 * Deliberately stricter than RFC 9111 where "never wrong" asks for it (as Hono's cache middleware
 * is): never stored are `private` (in any form), `no-store`, `Set-Cookie`, `Vary: *`, answers about
 * the caller (401, 407, 429), and a 206 (a part). `no-cache` is stored only when it carries a
 * validator (so it can be revalidated) and the caller asks for that (`revalidates`).
 */

import { parseHttpDate } from './http-date'
import { targetedDirectives } from './targeted'
import { hasValidators } from './revalidation'

export type Directives = Map<string, string | true>

/**
 * Parses a `Cache-Control` value: names lower-cased, quoted values unquoted, commas inside quotes
 * kept (`private="set-cookie, x"`). A directive repeated with another value is ambiguous: it is
 * recorded as `"conflict"`, which every numeric reading treats as 0 (RFC 9111 section 4.2.1).
 */
export function parseCacheControl(value: string | null): Directives {
  const out: Directives = new Map()
  if (!value) return out
  const re = /[\s,]*([^=,\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)/gy
  let m: RegExpExecArray | null
  let guard = 0
  while (re.lastIndex < value.length && guard++ < 256 && (m = re.exec(value))) {
    const name = m[1]!.toLowerCase()
    let arg: string | true = true
    if (m[2] !== undefined) arg = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2].trim()
    const seen = out.get(name)
    out.set(name, seen !== undefined && seen !== arg ? 'conflict' : arg)
  }
  return out
}

/** A delta-seconds directive: undefined when absent, 0 when malformed (treated as stale). */
export function seconds(directives: Directives, name: string): number | undefined {
  const value = directives.get(name)
  if (value === undefined) return undefined
  if (value === true || !/^\d+$/.test(value)) return 0
  return Math.min(Number(value), 2 ** 31)
}

export type FreshnessOptions = {
  /** Lifetime (s) for a response without explicit freshness; 0: such responses are not stored. */
  defaultTtl: number
  maxTtl: number
  /** Route defaults for the stale windows (s), used when the origin gives none and allows it. */
  staleWhileRevalidate: number
  staleIfError: number
  statuses: ReadonlySet<number>
  /**
   * With explicit freshness (`max-age`, `s-maxage`, `Expires`), any final status may be stored
   * (RFC 9111 section 3); `statuses` then bounds only what `defaultTtl` applies to.
   */
  anyStatusWhenExplicit?: boolean
  /** Targeted fields (RFC 9213) that replace `Cache-Control` and `Expires` for this cache, first one wins. */
  targeted?: readonly string[]
  /** Heuristic freshness for `statuses`: this fraction of `Date` minus `Last-Modified` (RFC 9111 4.2.2); 0 or unset = off. */
  heuristicFraction?: number
  /**
   * Keep responses that can be revalidated (`ETag` / `Last-Modified`) although they can't be served
   * as they are: `no-cache`, or a lifetime already over (RFC 9111 sections 4.3 and 5.2.2.4).
   */
  revalidates?: boolean
}

export type Freshness = {
  /** Freshness lifetime in seconds, counted from `storedAt`. */
  ttl: number
  swr: number
  sie: number
  /** When the entry was "born" (ms): receive time minus the origin's `Age`. */
  storedAt: number
}

/**
 * Answers about the caller, never about the resource (a failed authentication, a proxy's, a rate
 * limit): never stored, whatever their freshness. A deliberate difference from RFC 9111.
 */
const PER_CALLER_STATUSES = new Set([401, 407, 429])

export type StoreDecision = { store: true; freshness: Freshness } | { store: false; reason: string }

/**
 * Decides whether a response to a GET may be stored, and for how long.
 * `credentialed`: the request carried credentials and the route shares responses (`scope: "public"`):
 * then the origin must also say the response is shareable (RFC 9111 section 3.5: `public`,
 * `s-maxage` or `must-revalidate`), so a response is shared only when both the route and the
 * origin say so.
 */
export function decideStore(status: number, headers: Headers, options: FreshnessOptions, credentialed: boolean, now: number): StoreDecision {
  // 206 is a part, 304 a validation: neither is a response to store as an entry (1xx never gets here).
  if (status < 200 || status > 599 || status === 206 || status === 304 || PER_CALLER_STATUSES.has(status)) return { store: false, reason: 'status' }
  const targeted = options.targeted ? targetedDirectives(headers, options.targeted) : undefined
  const cc = targeted ?? parseCacheControl(headers.get('cache-control'))
  for (const name of ['no-store', 'private'] as const) if (cc.has(name)) return { store: false, reason: name }
  const revalidatable = options.revalidates === true && hasValidators(headers)
  const noCache = cc.has('no-cache')
  if (noCache && !revalidatable) return { store: false, reason: 'no-cache' }
  if (headers.has('set-cookie')) return { store: false, reason: 'set-cookie' }
  const vary = headers.get('vary')
  if (vary !== null && vary.split(',').some((v) => v.trim() === '*')) return { store: false, reason: 'vary-star' }
  const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate')
  if (credentialed && !cc.has('public') && !cc.has('s-maxage') && !mustRevalidate) return { store: false, reason: 'credentials' }

  let ttl = seconds(cc, 's-maxage') ?? seconds(cc, 'max-age')
  // A targeted field replaces Expires too (RFC 9213 section 2.1).
  if (ttl === undefined && !targeted && headers.has('expires')) {
    // An Expires that is not an HTTP-date (`0`, garbage) means "already expired" (RFC 9111 section 5.3).
    const expires = parseHttpDate(headers.get('expires'), now)
    const date = parseHttpDate(headers.get('date'), now) ?? now
    ttl = expires === undefined ? 0 : Math.max(0, Math.floor((expires - date) / 1000))
  }
  // no-cache: stored, but never served without revalidating (RFC 9111 section 5.2.2.4).
  if (noCache) ttl = 0
  const explicit = ttl !== undefined
  if (!options.statuses.has(status) && !(explicit && options.anyStatusWhenExplicit)) return { store: false, reason: 'status' }
  ttl = Math.min(ttl ?? heuristicTtl(headers, options, now) ?? options.defaultTtl, options.maxTtl)

  // s-maxage implies proxy-revalidate for a shared cache, but an explicit stale-* directive from
  // the origin is its own permission (RFC 5861); route defaults only fill in where nothing forbids.
  const defaultsAllowed = !mustRevalidate && !cc.has('s-maxage')
  // no-cache forbids serving stale as much as must-revalidate does.
  const window = (name: string, fallback: number) =>
    mustRevalidate || noCache ? 0 : Math.min(seconds(cc, name) ?? (defaultsAllowed ? fallback : 0), options.maxTtl)
  const swr = window('stale-while-revalidate', options.staleWhileRevalidate)
  const sie = window('stale-if-error', options.staleIfError)

  const initialAge = ageOf(headers)
  if (ttl + Math.max(swr, sie) - initialAge <= 0 && !(explicit && revalidatable)) return { store: false, reason: ttl === 0 ? 'no-ttl' : 'expired' }
  return { store: true, freshness: { ttl, swr, sie, storedAt: now - initialAge * 1000 } }
}

/** The heuristic lifetime (s) a `Last-Modified` gives when configured; undefined otherwise. */
function heuristicTtl(headers: Headers, options: FreshnessOptions, now: number): number | undefined {
  if (!options.heuristicFraction) return undefined
  const lastModified = parseHttpDate(headers.get('last-modified'), now)
  if (lastModified === undefined) return undefined
  const date = parseHttpDate(headers.get('date'), now) ?? now
  return Math.max(0, Math.floor(((date - lastModified) / 1000) * options.heuristicFraction))
}

/**
 * The origin's `Age` in seconds: delta-seconds, digits only; of several values (or lines) the
 * first counts. Anything else (`7200.0`, `-1`) is ignored as RFC 9111 section 5.1 says.
 */
export function ageOf(headers: Headers): number {
  const first = (headers.get('age') ?? '').split(',')[0]!.trim()
  return /^\d+$/.test(first) ? Math.min(Number(first), 2 ** 31) : 0
}

/**
 * Whether a stored response may be served stale when the origin can't be reached (RFC 9111
 * section 4.2.4): not with `must-revalidate`, `proxy-revalidate`, `no-cache` or `s-maxage`
 * (section 5.2.2.10), read from the targeted field when one applies.
 */
export function mayServeStale(headers: Headers, targeted: readonly string[] = []): boolean {
  const cc = targetedDirectives(headers, targeted) ?? parseCacheControl(headers.get('cache-control'))
  return !['must-revalidate', 'proxy-revalidate', 'no-cache', 's-maxage'].some((name) => cc.has(name))
}

export type EntryState = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired'

/** Where an entry stands now; `age` and `remaining` (ttl left, negative when stale) in seconds. */
export function entryState(freshness: Freshness, now: number): { state: EntryState; age: number; remaining: number } {
  const age = Math.max(0, Math.floor((now - freshness.storedAt) / 1000))
  const remaining = freshness.ttl - age
  if (remaining > 0) return { state: 'fresh', age, remaining }
  const staleFor = -remaining
  if (staleFor < freshness.swr) return { state: 'stale-while-revalidate', age, remaining }
  if (staleFor < freshness.sie) return { state: 'stale-if-error', age, remaining }
  return { state: 'expired', age, remaining }
}

/** How long the Cache API must keep an entry: its whole life, stale windows included (s). */
export function storeSeconds(freshness: Freshness, now: number): number {
  const lived = Math.floor((now - freshness.storedAt) / 1000)
  return Math.max(1, freshness.ttl + Math.max(freshness.swr, freshness.sie) - lived)
}
