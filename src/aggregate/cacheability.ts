/**
 * @module
 * Whether, and for how long, a merged response may be cached, and what it varies on. The merged
 * response is built from every call's answer, so it says what the most careful of them says: the
 * route's `cache` policy (and any cache after the gateway) reads these headers, which the merge
 * would otherwise drop.
 *
 * - Lifetime: each answered call counts with its freshness (`s-maxage`, `max-age`, `Expires`,
 *   less its `Age`; capped by its own cache `ttl`), a call answered from its own cache with the
 *   entry's remaining lifetime, a call without freshness with the route cache's `defaultTtl`. The
 *   aggregate lives as long as the shortest.
 * - Uncacheable (`no-store`): any call answering `private`, `no-store`, `no-cache`,
 *   `must-revalidate`, `proxy-revalidate`, `Set-Cookie`, `Vary: *`, a status a cache may not keep
 *   without being told, or a `Vary` on a header it did not get as the client sent it (from the
 *   gateway, a policy or a template: per request, but no client header says how).
 * - `Vary`: a call varying on a header the client sent varies the aggregate on that client header.
 *   A header the call did not send, or sent with a fixed value, varies nothing. `Accept-Encoding`
 *   never does: every body is decoded before the merge.
 * - Never served stale (`stale-while-revalidate=0, stale-if-error=0`): no part is refreshed on its
 *   own. `public` only when every call said so (`public` or `s-maxage`): a route cache with
 *   `scope: "public"` then shares the answer among clients with credentials, as for a proxy route.
 * Only complete aggregates are judged here; a partial one is `no-store` whatever its calls said.
 */
import { decideStore, parseCacheControl } from '../http-cache/freshness'
import { varyNames } from '../http-cache/key'
import type { HeaderSource } from './forward'

/** The 2xx statuses a cache keeps without being told (RFC 9111 section 4.2.2): the others fail a call anyway. */
const STATUSES: ReadonlySet<number> = new Set([200, 203, 204])

/** One call's say: how long its answer stays fresh and which client headers it varies on, or why it can't be cached. */
export type CallCacheability = { lifetime: number; vary: string[]; shared: boolean } | { uncacheable: string }

export type AnswerFacts = {
  status: number
  /** The answer's headers (an entry's, for an answer from the call's own cache). */
  headers: Headers
  /** The headers the call sent, and where each came from (`./forward`). */
  sent: Headers
  from: ReadonlyMap<string, HeaderSource>
  /** Lifetime (s) when the origin gives none: the route cache's `defaultTtl`. */
  defaultTtl: number
  /** The call's own cache `ttl`, which bounds how long its answer is reused. */
  cap?: number | undefined
  /** For an answer from the call's own cache: the entry's remaining lifetime (s). */
  remaining?: number | undefined
  now: number
}

export function callCacheability(answer: AnswerFacts): CallCacheability {
  const cc = parseCacheControl(answer.headers.get('cache-control'))
  for (const name of ['must-revalidate', 'proxy-revalidate'] as const) if (cc.has(name)) return { uncacheable: name }
  const options = { defaultTtl: answer.defaultTtl, maxTtl: answer.cap ?? Number.MAX_SAFE_INTEGER, staleWhileRevalidate: 0, staleIfError: 0, statuses: STATUSES }
  const decision = decideStore(answer.status, answer.headers, options, false, answer.now)
  if (!decision.store) return { uncacheable: decision.reason }
  const vary: string[] = []
  for (const name of varyNames(answer.headers.get('vary'))) {
    if (name === 'accept-encoding' || !answer.sent.has(name)) continue
    const source = answer.from.get(name)
    if (source === undefined) return { uncacheable: `vary-${name}` }
    if (source === 'client') vary.push(name)
  }
  const { ttl, storedAt } = decision.freshness
  const lifetime = answer.remaining ?? ttl - Math.floor((answer.now - storedAt) / 1000)
  return { lifetime, vary, shared: cc.has('public') || cc.has('s-maxage') }
}

/** The merged response's `Cache-Control` and `Vary`, from its calls' say (see the module comment). */
export function aggregateCacheHeaders(calls: readonly CallCacheability[]): { cacheControl: string; vary?: string; reason?: string } {
  let lifetime = Number.MAX_SAFE_INTEGER
  let shared = true
  const vary = new Set<string>()
  for (const call of calls) {
    if ('uncacheable' in call) return { cacheControl: 'no-store', reason: call.uncacheable }
    lifetime = Math.min(lifetime, call.lifetime)
    shared &&= call.shared
    for (const name of call.vary) vary.add(name)
  }
  if (calls.length === 0 || lifetime <= 0) return { cacheControl: 'no-store', reason: 'no-ttl' }
  const cacheControl = `${shared ? 'public, ' : ''}max-age=${lifetime}, stale-while-revalidate=0, stale-if-error=0`
  return vary.size > 0 ? { cacheControl, vary: [...vary].sort().join(', ') } : { cacheControl }
}
