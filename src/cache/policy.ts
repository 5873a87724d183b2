/**
 * @module
 * `cache`: response caching through the Cache API, as a shared cache (RFC 9111) that is never
 * wrong about whom a response may go to.
 *
 * - GET and HEAD only (HEAD reads GET's entries). Freshness from the origin (`s-maxage` over
 *   `max-age`, then `Expires`), else `defaultTtl`; capped by `maxTtl`. Never stored: `no-store`,
 *   `private`, `no-cache`, `Set-Cookie`, `Vary: *`, statuses outside `statuses`, bodies over
 *   `maxBodyBytes`.
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
import type { Context, MiddlewareHandler } from 'hono'
import type { AppEnv } from '../core/context'
import { editResponseHeaders } from '../core/http'
import { logEvent } from '../core/logging'
import { CONDITIONAL_HEADERS, notModified } from '../http-cache/entry'
import { decideStore, entryState, type FreshnessOptions } from '../http-cache/freshness'
import { generationStore } from '../http-cache/generation'
import { compileKey, consumerPartition, varyNames } from '../http-cache/key'
import { compilePins, type Pins } from './pins'
import { claimRefresh, releaseRefresh, runDetached } from './refresh'
import { forget, lookup, store } from '../http-cache/store'
import { checkCacheOptions, transformedHeaders } from './checks'
import { CacheOptionsSchema, type CacheOptions } from './schema'
import type { PolicyView } from '../core/config-view'
import { upstreamConfigs } from '../upstream/schema'
import { definePolicy } from '../core/policy'

/** Origin answers that let stale-if-error serve a stale entry (RFC 5861 section 4). */
const ERROR_STATUSES = new Set([500, 502, 503, 504])

type Stored = { response: Response; reason: string | undefined; done: Promise<void> | undefined }

/** Appends this gateway's member to `Cache-Status` (the last member is the cache nearest the client). */
function setCacheStatus(c: Context<AppEnv>, params: string, age?: number): void {
  c.get('log').cache = params
  editResponseHeaders(c, (h) => {
    const upstream = h.get('cache-status')
    h.set('Cache-Status', `${upstream ? `${upstream}, ` : ''}edgeway; ${params}`)
    if (age !== undefined) h.set('Age', String(age))
  })
}

function serve(c: Context<AppEnv>, response: Response): void {
  c.res = undefined
  c.res = c.req.method === 'HEAD' ? (response.body?.cancel().catch(() => {}), new Response(null, response)) : response
}

/** The `request-id` policy's one option the cache reads (the policy is traffic's). */
type RequestIdView = PolicyView & { header: string }

export const cachePolicy = definePolicy({
  type: 'cache',
  phase: 'cache',
  schema: CacheOptionsSchema,
  check: checkCacheOptions,
  // Up to two matches (Vary), two puts (variant + marker) and one KV read of generations.
  subrequests: () => 5,
  create(options, build) {
    const pins: Pins = compilePins(upstreamConfigs(build.config), build.route)
    const key = compileKey({ query: options.query, headers: options.keyHeaders, credentials: options.credentials, ownCookies: pins.names })
    const transformed: Set<string> = transformedHeaders(build.config.policies, build.route, build.phaseOf)
    const freshness: FreshnessOptions = { ...options, statuses: new Set(options.statuses) }
    const kv = build.env[options.purge.kv] as KVNamespace | undefined
    if (!kv) logEvent('cache_purge_unavailable', { at: build.at, reason: `no KV binding "${options.purge.kv}": purges can't reach this cache` })
    const generations = generationStore(kv, options.purge.kv, options.purge.cacheSeconds)
    // The request id header is per client, whatever it is named.
    const strip = build.config.policies.flatMap((p) => (p.type === 'request-id' ? [(p as RequestIdView).header.toLowerCase()] : []))
    const { scope, maxBodyBytes, cacheName } = options
    const refreshTimeoutMs = (build.route?.deadline ?? 60_000) + 5_000

    return async function cache(c, next) {
      const method = c.req.method
      const route = c.get('route')
      const reqHeaders = c.req.raw.headers
      const draft = c.get('upstreamRequest')
      const bypass = async (reason: string) => {
        await next()
        setCacheStatus(c, `fwd=${reason === 'method' ? 'method' : 'bypass'}; detail=${reason}`)
      }
      // A WebSocket handshake is not cacheable, and its 101 must reach the client untouched.
      if (reqHeaders.get('upgrade')?.toLowerCase() === 'websocket') return next()
      if (method !== 'GET' && method !== 'HEAD') return bypass('method')
      if (!route) return bypass('no-route')
      if (reqHeaders.has('range')) return bypass('range')
      // Preconditions the gateway doesn't evaluate from an entry: the origin answers them.
      if (reqHeaders.has('if-match') || reqHeaders.has('if-unmodified-since')) return bypass('precondition')

      const identified = key.credentialsOf(reqHeaders, draft.search) !== undefined || c.get('consumer') !== undefined || c.get('claims') !== undefined
      let partition = 'shared'
      if (identified) {
        const consumer = c.get('consumer')
        if (scope === 'consumer' && consumer) partition = await consumerPartition(consumer.key)
        else if (scope !== 'public') return bypass('credentials')
      }
      let generation: string
      try {
        generation = await generations.read(route.id, draft.path, c.get('runtime'))
      } catch (err) {
        // Without the generation a purged entry could be served: go to the origin instead.
        logEvent('cache_generation_unavailable', { reason: String(err) })
        return bypass('purge-store-unavailable')
      }
      const url = c.get('url')
      const primary = key.primary({ host: url.host, routeId: route.id, generation, partition, path: draft.path, search: draft.search, headers: reqHeaders })
      const storage = cacheName ? await caches.open(cacheName) : caches.default
      // Variants are keyed on the upstream request as the cache phase sees it (the client's headers
      // plus what authentication changed), at the lookup and at the store alike: transforms edit
      // the draft after the lookup, so the draft after `next()` is not what the lookup used.
      const varyOn = new Headers(draft.headers)
      const found = await lookup(storage, url.origin, primary, varyOn).catch((err: unknown) => {
        logEvent('cache_lookup_failed', { reason: String(err) })
        return undefined
      })
      const entry = found?.entry
      const runtime = c.get('runtime')
      const state = entry ? entryState(entry.freshness, runtime.now()) : undefined
      const storeFrom = (origin: Response): Stored => {
        // The gateway's own sticky cookie is not the origin's: off while judging and storing, back after.
        const res = pins.names.size > 0 ? new Response(origin.body, origin) : origin
        const { cookies, pinned } = pins.names.size > 0 ? pins.take(res.headers, reqHeaders) : { cookies: [], pinned: [] }
        const decision = decideStore(res.status, res.headers, freshness, identified && partition === 'shared', runtime.now())
        const length = Number(res.headers.get('content-length') ?? 0)
        const transformedVary = decision.store && varyNames(res.headers.get('vary')).some((name) => transformed.has(name))
        const reason = !decision.store ? decision.reason : transformedVary ? 'vary-transformed' : length > maxBodyBytes ? 'too-large' : undefined
        const result: Stored =
          reason !== undefined || !decision.store
            ? { response: res, reason, done: undefined }
            : { ...store({ cache: storage, origin: url.origin, primary, headers: varyOn, now: runtime.now(), pins: pinned, response: res, freshness: decision.freshness, maxBodyBytes, strip }), reason }
        for (const line of cookies) result.response.headers.append('Set-Cookie', line)
        return result
      }
      const repin = (e: NonNullable<typeof entry>) => {
        const lines = pins.restore(e.pins, reqHeaders)
        if (lines.length > 0) editResponseHeaders(c, (h) => lines.forEach((line) => h.append('Set-Cookie', line)))
      }

      if (entry && state && (state.state === 'fresh' || state.state === 'stale-while-revalidate')) {
        if (state.state === 'stale-while-revalidate') startRefresh(c, cache, found!.keyText, storeFrom, () => forget(storage, url.origin, found!.keyText))
        const response = state.state === 'fresh' ? (notModified(reqHeaders, entry.response) ?? entry.response) : entry.response
        serve(c, response)
        repin(entry)
        setCacheStatus(c, `hit; ttl=${state.remaining}`, state.age)
        return
      }

      // The gateway answers conditionals itself, from what it stores: a 304 from the origin could
      // be neither stored nor served to another client, and must never replace a good entry.
      const conditional = CONDITIONAL_HEADERS.some((name) => draft.headers.has(name))
      for (const name of CONDITIONAL_HEADERS) draft.headers.delete(name)
      await next()
      const fwd = entry ? 'stale' : (found?.miss ?? 'uri-miss')
      if (entry && state?.state === 'stale-if-error' && ERROR_STATUSES.has(c.res.status)) {
        const failed = c.res.status
        c.res.body?.cancel().catch(() => {})
        serve(c, entry.response)
        repin(entry)
        setCacheStatus(c, `fwd=stale; fwd-status=${failed}; ttl=${state.remaining}; detail=stale-if-error`, state.age)
        return
      }
      entry?.response.body?.cancel().catch(() => {})
      if (method === 'HEAD') return setCacheStatus(c, `fwd=${fwd}; detail=head`)
      const result = storeFrom(c.res)
      const status = result.response.status
      c.res = undefined
      c.res = (conditional && notModified(reqHeaders, result.response)) || result.response
      if (result.done) {
        runtime.waitUntil(c, result.done)
        return setCacheStatus(c, `fwd=${fwd}; fwd-status=${status}; stored`)
      }
      // The origin now says this may not be kept: don't leave an older entry to be served stale.
      if (entry && status !== 304) runtime.waitUntil(c, forget(storage, url.origin, found!.keyText))
      setCacheStatus(c, `fwd=${fwd}; fwd-status=${status}; detail=${result.reason}`)
    }

    /** Serves stale now; refreshes in the background unless this isolate is refreshing the key already. */
    function startRefresh(
      c: Context<AppEnv>,
      self: MiddlewareHandler<AppEnv>,
      keyText: string,
      storeFrom: (res: Response) => { done: Promise<void> | undefined; response: Response },
      drop: () => Promise<void>,
    ): void {
      const downstream = c.get('route').downstreamOf(self)
      const runtime = c.get('runtime')
      if (!downstream || !claimRefresh(keyText, refreshTimeoutMs, runtime.now())) return
      const refreshed = runDetached(c, downstream)
      let holdMs = 0
      runtime.waitUntil(
        c,
        refreshed
          .then(async (res) => {
            const result = storeFrom(res)
            if (result.done) {
              await result.response.body?.cancel().catch(() => {})
              await result.done
              holdMs = 1_000
            } else {
              res.body?.cancel().catch(() => {})
              // An error keeps the stale entry; an answer that may not be stored replaces it with nothing.
              if (!ERROR_STATUSES.has(res.status) && res.status !== 304) await drop()
            }
          })
          .catch((err: unknown) => logEvent('cache_refresh_failed', { route: c.get('route').id, reason: String(err) }))
          .finally(() => releaseRefresh(keyText, refreshTimeoutMs, holdMs, runtime.now())),
      )
    }
  },
})
