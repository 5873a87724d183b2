/**
 * @module
 * Per-call caching of aggregation calls, on the cache policy's machinery (`src/cache/`): one set of
 * storability rules (`decideStore`: `no-store`, `private`, `no-cache`, `Set-Cookie`, `Vary: *`, the
 * status list, the origin's `Age`), one entry format (`store` / `lookup`: bookkeeping in internal
 * headers that never reach a reader, `Vary` variants, bounded reads), hashed keys and purge
 * generations, so the admin purge (everything, or the route) reaches call entries too.
 *
 * Lifetime: the origin's freshness (`s-maxage`, `max-age`, `Expires`, less its `Age`) capped by the
 * call's `ttl`, and `ttl` when the origin says nothing. Only fresh entries are served (no stale
 * windows: a call has no background refresh).
 *
 * Whose answer it is: a call that carries credentials (`Authorization`, `Cookie`, `X-API-Key`), or
 * runs for an established consumer or token, is cached only under a `cache.key` that renders
 * non-empty (`{consumer.id}`): the key says whose answer it is. The rendered key is hashed on its
 * own (as the policy hashes a consumer id), and the key text is hashed again into the Cache API URL.
 */
import { decideStore, entryState, type FreshnessOptions } from '../cache/freshness'
import { generationStore } from '../cache/generation'
import { compileKey, sha256Hex } from '../cache/key'
import { lookup, store } from '../cache/store'
import type { Env } from '../env'
import { logEvent } from '../logging'
import { compileTemplate } from '../template/template'

/** The 2xx statuses of the cache policy's default list: any other answer fails the call anyway. */
const STATUSES: ReadonlySet<number> = new Set([200, 203, 204])

/**
 * Keys as the policy builds them, and credentials as it sees them by default. No query parameter
 * counts as a credential: a call's query comes from its config, not from the client.
 */
const keys = compileKey({ query: { sort: false }, headers: [], credentials: { headers: ['X-API-Key'], query: [], cookies: true } })

export type CallCacheConfig = { ttl: number; key?: string | undefined; purge: { kv: string; cacheSeconds: number } }

/** What the cache needs from the request an aggregation runs for. */
export type CallCacheContext = {
  /** The client request's origin: entries live on the zone's own host, as the policy's do. */
  origin: string
  routeId: string
  /** A consumer or token claims are established for the request. */
  identified: boolean
  /** The route's purge generation, read once per request and KV binding. */
  generation(kv: string, cacheSeconds: number): Promise<string>
}

/** A call's outgoing request, as far as the key and `Vary` are concerned. */
export type CallRequest = { path: string; search: string; headers: Headers }

/** Storing one call's answer: the reason it is not stored, or the writes for `waitUntil`. */
export type Keep = (response: Response, bytes: Uint8Array) => string | Promise<void>

export type Opened = { bypass: string } | { hit: Response } | { miss: string; keep: Keep }

const unavailable = new Set<string>()

/** Memoised generation reads for one request (the same promise for every call of that request). */
export function generationReader(env: Env, routeId: string): CallCacheContext['generation'] {
  const reads = new Map<string, Promise<string>>()
  return (kv, cacheSeconds) => {
    let read = reads.get(kv)
    if (!read) {
      const namespace = env[kv] as KVNamespace | undefined
      if (!namespace && !unavailable.has(kv)) {
        unavailable.add(kv)
        logEvent('cache_purge_unavailable', { at: `route ${routeId}`, reason: `no KV binding "${kv}": purges can't reach cached aggregation calls` })
      }
      // No path generation: a URL purge names gateway paths, which call entries are not keyed by.
      reads.set(kv, (read = generationStore(namespace, kv, cacheSeconds).read(routeId, '')))
    }
    return read
  }
}

export function compileCallCache(config: CallCacheConfig, call: string, upstream: string) {
  const keyTemplate = config.key !== undefined ? compileTemplate(config.key) : undefined
  const freshness: FreshnessOptions = { defaultTtl: config.ttl, maxTtl: config.ttl, staleWhileRevalidate: 0, staleIfError: 0, statuses: STATUSES }
  const { kv, cacheSeconds } = config.purge

  /** Looks the call up; on a miss, returns how to store its answer. Never throws. */
  return async function open(scope: Record<string, unknown>, request: CallRequest, ctx: CallCacheContext): Promise<Opened> {
    const whose = keyTemplate?.render(scope)
    if ((ctx.identified || keys.credentialsOf(request.headers, '') !== undefined) && !whose) return { bypass: 'credentials' }
    let generation: string
    try {
      generation = await ctx.generation(kv, cacheSeconds)
    } catch (err) {
      // Without the generation a purged entry could be served: go to the origin instead.
      logEvent('cache_generation_unavailable', { reason: String(err) })
      return { bypass: 'purge-store-unavailable' }
    }
    const partition = `call:${upstream}:${call}${whose === undefined ? '' : `:${(await sha256Hex(`edgeway-call-key:${whose}`)).slice(0, 32)}`}`
    const primary = keys.primary({ host: ctx.origin, routeId: ctx.routeId, generation, partition, path: request.path, search: request.search, headers: request.headers })
    const cache = caches.default
    // A broken or unreadable entry is a miss, never a failure.
    const found = await lookup(cache, ctx.origin, primary, request.headers).catch(() => undefined)
    const entry = found?.entry
    if (entry && entryState(entry.freshness).state === 'fresh') return { hit: entry.response }
    entry?.response.body?.cancel().catch(() => {})

    const keep: Keep = (response, bytes) => {
      const decision = decideStore(response.status, response.headers, freshness, false)
      if (!decision.store) return decision.reason
      // An origin's own stale-* windows are of no use without a background refresh.
      const fresh = { ...decision.freshness, swr: 0, sie: 0 }
      if (entryState(fresh).state !== 'fresh') return 'expired'
      const copy = new Response(response.status === 204 ? null : bytes, response)
      const { response: unread, done } = store({ cache, origin: ctx.origin, primary, headers: request.headers, response: copy, freshness: fresh, maxBodyBytes: bytes.byteLength, strip: [] })
      unread.body?.cancel().catch(() => {})
      return done
    }
    return { miss: found?.miss ?? 'uri-miss', keep }
  }
}
