/**
 * @module
 * `cache`: response caching through the Cache API, as a shared cache (RFC 9111) that is never
 * wrong about whom a response may go to.
 *
 * - GET and HEAD only (HEAD reads GET's entries). Freshness from the origin (the targeted field or
 *   `CDN-Cache-Control` over `Cache-Control`; `s-maxage` over `max-age`, then `Expires`), else the
 *   heuristic or `defaultTtl` for `statuses`; capped by `maxTtl`. Never stored: `no-store`,
 *   `private`, `Set-Cookie`, `Vary: *`, 206/401/407/429, bodies over `maxBodyBytes`; `no-cache`
 *   only with a validator.
 * - Stale entries are revalidated with their validators (a 304 freshens them, `../http-cache/revalidation`),
 *   served stale when the origin can't be reached (unless their directives forbid it), and answer
 *   Range requests when fresh. Unsafe methods invalidate (`./invalidate`).
 * - Requests with credentials (Authorization, Cookie, an API key header or query parameter, or an
 *   established consumer) bypass the cache unless `scope` says otherwise: `"public"` shares the
 *   anonymous entries (and stores a credentialed response only when the origin marks it shareable:
 *   `public`, `s-maxage` or `must-revalidate`); `"consumer"` keys entries by the consumer (hashed).
 * - `Cache-Status` (RFC 9211) and `Age` on responses; 304 from a fresh entry; stale-while-revalidate
 *   (one background refresh per key per isolate) and stale-if-error (RFC 5861).
 * - Runs in the `cache` phase: after authentication and rate limiting (cached answers stay
 *   protected and counted), before transforms; outer policies add per-client headers after it.
 *
 * @example
 * { "type": "cache", "defaultTtl": 30, "staleWhileRevalidate": 30, "query": { "exclude": ["utm_source"] } }
 */
import type { Context, MiddlewareHandler, Next } from 'hono'
import type { AppEnv } from '../core/context'
import { editResponseHeaders } from '../core/http'
import { logEvent, logInfo } from '../core/logging'
import { CONDITIONAL_HEADERS, notModified, type Entry } from '../http-cache/entry'
import { generationStore } from '../http-cache/generation'
import { mayServeStale } from '../http-cache/freshness'
import { compileKey } from '../http-cache/key'
import { forget, type StoreOutcome } from '../http-cache/store'
import { freshenedBy, validatorsOf } from '../http-cache/revalidation'
import { partialFrom } from '../http-cache/range'
import { compilePins, type Pins } from './pins'
import { ERROR_STATUSES, startRefresh } from './refresh'
import { invalidate, invalidationSubrequests, isUnsafe } from './invalidate'
import { invalidationBudget } from './propagation'
import { bypassReason, storeFrom, visit, type CacheSetup, type Visit } from './lookup'
import { checkCacheOptions, transformedHeaders } from './checks'
import { CacheOptionsSchema } from './schema'
import type { PolicyView } from '../core/config-view'
import { upstreamConfigs } from '../upstream/schema'
import { definePolicy } from '../core/policy'

/** Appends this gateway's member to `Cache-Status` (the last member is the cache nearest the client). */
function setCacheStatus(c: Context<AppEnv>, setup: CacheSetup, params: string, age?: number): void {
  c.get('log').cache = params
  editResponseHeaders(c, (h) => {
    // Targeted cache control speaks to this gateway; it never reaches the client (RFC 9213).
    for (const name of setup.freshness.targeted ?? []) h.delete(name)
    const upstream = h.get('cache-status')
    h.set('Cache-Status', `${upstream ? `${upstream}, ` : ''}edgeway; ${params}`)
    if (age !== undefined) h.set('Age', String(age))
  })
}

function serve(c: Context<AppEnv>, response: Response): void {
  c.res = undefined
  c.res = c.req.method === 'HEAD' ? (response.body?.cancel().catch(() => {}), new Response(null, response)) : response
}

/** Sets again the sticky cookies the entry was produced under, when the client's differ. */
function repin(c: Context<AppEnv>, pins: Pins, entry: Entry): void {
  const lines = pins.restore(entry.pins, c.req.raw.headers)
  if (lines.length > 0) editResponseHeaders(c, (h) => lines.forEach((line) => h.append('Set-Cookie', line)))
}

/** The `request-id` policy's one option the cache reads (the policy is traffic's). */
type RequestIdView = PolicyView & { header: string }

export const cachePolicy = definePolicy({
  type: 'cache',
  phase: 'cache',
  schema: CacheOptionsSchema,
  check: checkCacheOptions,
  // A safe request: a KV read of the route's generations (and the path buckets), up to two matches
  // (Vary), when an entry is found a KV read of its bucket (when that copy alone expired) and of its
  // path's generation, two puts (variant + marker) or a delete. An unsafe one: its invalidation,
  // which costs more.
  subrequests: (options) => Math.max(7, invalidationSubrequests(options.scope)),
  create(options, build) {
    const pins: Pins = compilePins(upstreamConfigs(build.config), build.route)
    const kv = build.env[options.purge.kv] as KVNamespace | undefined
    if (!kv) logEvent('cache_purge_unavailable', { at: build.at, reason: `no KV binding "${options.purge.kv}": purges can't reach this cache` })
    const setup: CacheSetup = {
      pins,
      key: compileKey({ query: options.query, headers: options.keyHeaders, credentials: options.credentials, ownCookies: pins.names }),
      transformed: transformedHeaders(build.config.policies, build.route, build.phaseOf),
      freshness: {
        ...options,
        statuses: new Set(options.statuses),
        anyStatusWhenExplicit: true,
        revalidates: true,
        targeted: [...(options.targetedField ? [options.targetedField.toLowerCase()] : []), 'cdn-cache-control'],
      },
      generations: generationStore(kv, options.purge.kv, options.purge.cacheSeconds),
      propagation: invalidationBudget(options.invalidationWritesPerMinute),
      // The request id header is per client, whatever it is named.
      strip: build.config.policies.flatMap((p) => (p.type === 'request-id' ? [(p as RequestIdView).header.toLowerCase()] : [])),
      scope: options.scope,
      maxBodyBytes: options.maxBodyBytes,
      cacheName: options.cacheName,
      // As long as a purge generation is trusted: a deletion elsewhere reaches memory as fast as a purge.
      memoryHoldMs: options.purge.cacheSeconds * 1000,
      refreshTimeoutMs: (build.route?.deadline ?? 60_000) + 5_000,
    }

    return async function cache(c, next) {
      // A WebSocket handshake is not cacheable, and its 101 must reach the client untouched.
      if (c.req.raw.headers.get('upgrade')?.toLowerCase() === 'websocket') return next()
      const early = bypassReason(c)
      const at = early === undefined ? await visit(c, setup) : { bypass: early }
      if ('bypass' in at) return bypass(c, setup, next, at.bypass)
      if (await serveRangeFromEntry(c, setup, at)) return
      if (serveFromEntry(c, setup, at, cache)) return
      const sent = await forward(c, next, at)
      if (serveStaleOnError(c, setup, at)) return
      if (sent.revalidating && c.res.status === 304) return answerRevalidated(c, setup, at, sent.conditional)
      await answerFromOrigin(c, setup, at, sent.conditional)
    }
  },
})

/** Lets the request through to the origin, saying why the cache stood aside; an unsafe method's answer invalidates. */
async function bypass(c: Context<AppEnv>, setup: CacheSetup, next: Next, reason: string): Promise<void> {
  const draft = c.get('upstreamRequest')
  const own = { path: draft.path, search: draft.search }
  await next()
  if (reason === 'method' && isUnsafe(c.req.method)) await invalidate(c, setup, own)
  setCacheStatus(c, setup, `fwd=${reason === 'method' ? 'method' : 'bypass'}; detail=${reason}`)
}

/** Answers from a fresh entry (a 304 when the client's validators match), or from a stale one while it is refreshed. */
function serveFromEntry(c: Context<AppEnv>, setup: CacheSetup, at: Visit, self: MiddlewareHandler<AppEnv>): boolean {
  const { entry, state, found } = at
  if (!entry || !state || (state.state !== 'fresh' && state.state !== 'stale-while-revalidate')) return false
  if (state.state === 'stale-while-revalidate') {
    const keyText = found!.keyText
    startRefresh(c, self, keyText, setup.refreshTimeoutMs, (res) => storeFrom(c, setup, at, res), () => forget(at.storage, at.origin, keyText))
  }
  const response = state.state === 'fresh' ? (notModified(c.req.raw.headers, entry.response) ?? entry.response) : entry.response
  serve(c, response)
  repin(c, setup.pins, entry)
  setCacheStatus(c, setup, `hit; ttl=${state.remaining}`, state.age)
  return true
}

/**
 * Answers a Range request from a fresh, complete (200) entry: a 206, or a 416 (RFC 9110 section
 * 14). Without one, the request goes to the origin with its Range, and a 206 from there is passed
 * through (never stored).
 */
async function serveRangeFromEntry(c: Context<AppEnv>, setup: CacheSetup, at: Visit): Promise<boolean> {
  const range = c.req.raw.headers.get('range')
  if (range === null) return false
  const { entry, state } = at
  if (!entry || state?.state !== 'fresh' || entry.response.status !== 200) return false
  serve(c, await partialFrom(entry.response, range))
  repin(c, setup.pins, entry)
  setCacheStatus(c, setup, `hit; ttl=${state.remaining}`, state.age)
  return true
}

/**
 * Sends the request on to the origin without the client's validators (`conditional`: it had some),
 * with the entry's own instead when there is one to revalidate (`revalidating`). The gateway
 * answers client conditionals itself, from what it stores: a 304 to the client's validators could
 * be neither stored nor served to another client, and must never replace a good entry.
 */
async function forward(c: Context<AppEnv>, next: Next, at: Visit): Promise<{ conditional: boolean; revalidating: boolean }> {
  const draft = c.get('upstreamRequest')
  const conditional = CONDITIONAL_HEADERS.some((name) => draft.headers.has(name))
  for (const name of CONDITIONAL_HEADERS) draft.headers.delete(name)
  const partial = c.req.raw.headers.has('range')
  const validators = at.entry && c.req.method === 'GET' && !partial ? validatorsOf(at.entry.response.headers) : []
  for (const [name, value] of validators) draft.headers.set(name, value)
  await next()
  return { conditional, revalidating: validators.length > 0 }
}

/** The origin confirmed the entry (304): its headers are freshened, stored again, and it is served. */
async function answerRevalidated(c: Context<AppEnv>, setup: CacheSetup, at: Visit, conditional: boolean): Promise<void> {
  const freshened = freshenedBy(at.entry!.response, c.res.headers)
  c.res.body?.cancel().catch(() => {})
  c.res = undefined
  c.res = freshened
  // The body is the entry's: it keeps the entry's sent time, so a purge since then still removes it.
  return answerFromOrigin(c, setup, { ...at, entry: undefined, sentAt: at.entry!.sentAt }, conditional, { fwd: 'stale', status: 304 })
}

/**
 * Serves the stale entry in place of the origin's error: within its stale-if-error time (RFC 5861),
 * or whenever the origin could not be reached at all and the entry's directives allow serving it
 * stale (RFC 9111 section 4.2.4).
 */
function serveStaleOnError(c: Context<AppEnv>, setup: CacheSetup, at: Visit): boolean {
  const { entry, state } = at
  if (!entry || !state || state.state === 'fresh' || !ERROR_STATUSES.has(c.res.status)) return false
  const error = c.get('log').upstream?.error
  const disconnected = (error === 'unreachable' || error === 'timeout') && mayServeStale(entry.response.headers, setup.freshness.targeted)
  if (state.state !== 'stale-if-error' && !disconnected) return false
  const detail = state.state === 'stale-if-error' ? 'stale-if-error' : 'origin-unreachable'
  const failed = c.res.status
  c.res.body?.cancel().catch(() => {})
  serve(c, entry.response)
  repin(c, setup.pins, entry)
  setCacheStatus(c, setup, `fwd=stale; fwd-status=${failed}; ttl=${state.remaining}; detail=${detail}`, state.age)
  return true
}

/**
 * Answers with the origin's response, stored when it may be; an entry it may no longer replace is
 * forgotten. `stored` is said only of a write that ended before the answer; one still going on
 * (a large body) is reported by its own log event when it ends.
 */
async function answerFromOrigin(c: Context<AppEnv>, setup: CacheSetup, at: Visit, conditional: boolean, revalidated?: { fwd: 'stale'; status: 304 }): Promise<void> {
  const { entry, found } = at
  const runtime = c.get('runtime')
  const fwd = revalidated?.fwd ?? (entry ? 'stale' : (found?.miss ?? 'uri-miss'))
  entry?.response.body?.cancel().catch(() => {})
  if (c.req.method === 'HEAD') return setCacheStatus(c, setup, `fwd=${fwd}; detail=head`)
  const result = await storeFrom(c, setup, at, c.res)
  const status = revalidated?.status ?? result.response.status
  c.res = undefined
  c.res = (conditional && notModified(c.req.raw.headers, result.response)) || result.response
  if (result.stored) return setCacheStatus(c, setup, `fwd=${fwd}; fwd-status=${status}; stored`)
  if (result.done && result.reason === undefined) {
    runtime.waitUntil(c, result.done.then((outcome) => reportBackgroundStore(c, outcome)))
    return setCacheStatus(c, setup, `fwd=${fwd}; fwd-status=${status}`)
  }
  // The origin now says this may not be kept: don't leave an older entry to be served stale.
  if ((entry && status !== 304 && status !== 206) || revalidated) runtime.waitUntil(c, forget(at.storage, at.origin, found!.keyText))
  setCacheStatus(c, setup, `fwd=${fwd}; fwd-status=${status}; detail=${result.reason}`)
}

/** The request's line is written by now: a background write's outcome gets a line of its own. */
function reportBackgroundStore(c: Context<AppEnv>, outcome: StoreOutcome): void {
  const fields = { requestId: c.get('requestId'), route: c.get('route')?.id }
  if (outcome.stored) logInfo('cache_stored_in_background', fields)
  else logEvent('cache_not_stored_in_background', { ...fields, reason: outcome.reason })
}
