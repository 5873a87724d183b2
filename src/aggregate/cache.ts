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
 * non-empty (`{consumer.id}`): the key says whose answer it is. The key text (rendered key
 * included) is hashed into the Cache API URL, so no credential or consumer id appears in it.
 */
import { decideStore, entryState, type FreshnessOptions } from '../http-cache/freshness'
import { generationStore } from '../http-cache/generation'
import { compileKey } from '../http-cache/key'
import { lookup, store } from '../http-cache/store'
import type { Env } from '../core/env'
import { logEvent } from '../core/logging'
import { compileTemplate } from '../template/template'
import type { Runtime } from '../core/runtime'
import type { UpstreamRequest } from '../core/context'

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
  env: Env
  /**
   * The route's purge generation by KV binding, read once per request whatever the number of cached
   * calls. A missing binding reads as a fixed generation: entries then can't be purged (and the
   * admin purge answers 503 naming the binding).
   */
  generations: Map<string, Promise<string>>
  /** The gateway's runtime: entries are judged and stored at its `now()`. */
  runtime: Runtime
  /**
   * The route `cache` policy's `defaultTtl` (0 without one): how long an answer without freshness
   * counts towards the merged response's own lifetime (`./cacheability`).
   */
  defaultTtl: number
}

/** A call's outgoing request, as far as the key and `Vary` are concerned. */
export type CallRequest = Pick<UpstreamRequest, 'path' | 'search' | 'headers'>

/** Stores one call's answer: the reason it may not be stored, or the writes for `waitUntil`. */
export type Keep = (response: Response, bytes: Uint8Array) => string | Promise<unknown>

/**
 * A fresh entry (`hit`, with its `remaining` lifetime in seconds), or how to store the origin's
 * answer (`keep`), or neither (`detail` says why).
 */
export type Opened = { hit?: Response; remaining?: number; keep?: Keep; detail?: string }

/**
 * `call` names the call's entries apart from every other call's: its upstream, name, and what its
 * body is read under (`raw`, the size cap), so an entry always reads back as it was stored.
 */
export function compileCallCache(config: CallCacheConfig, call: string) {
  const keyTemplate = config.key !== undefined ? compileTemplate(config.key) : undefined
  const freshness: FreshnessOptions = { defaultTtl: config.ttl, maxTtl: config.ttl, staleWhileRevalidate: 0, staleIfError: 0, statuses: STATUSES }
  const { kv, cacheSeconds } = config.purge

  /** Looks the call up; on a miss, returns how to store its answer. Never rejects. */
  return async function open(scope: Record<string, unknown>, request: CallRequest, ctx: CallCacheContext): Promise<Opened> {
    const whose = keyTemplate?.render(scope)
    // A consumer or token claims established for the request, or credentials on the call itself.
    const identified = scope.consumer !== undefined || scope.claims !== undefined || keys.credentialsOf(request.headers, '') !== undefined
    if (identified && !whose) return { detail: 'credentials' }
    let generation: string | Promise<string> | undefined = ctx.generations.get(kv)
    // No path generation: a URL purge names gateway paths, which call entries are not keyed by.
    if (!generation) ctx.generations.set(kv, (generation = generationStore(ctx.env[kv] as KVNamespace | undefined, kv, cacheSeconds).read(ctx.routeId, '', ctx.runtime)))
    try {
      generation = await generation
    } catch (err) {
      // Without the generation a purged entry could be served: go to the origin instead.
      logEvent('cache_generation_unavailable', { reason: String(err) })
      return { detail: 'purge-store-unavailable' }
    }
    // `key:` marks a keyed entry apart from an unkeyed one; the key text is hashed into the URL.
    // A token's claims (`{consumer.id}` is its `sub`) mean something only at its issuer: the same
    // rendered key from two issuers is two callers' (`iss:` comes first, so no key text forges it).
    const iss = (scope.claims as { iss?: unknown } | undefined)?.iss
    const partition = `call:${call}${typeof iss === 'string' ? `\niss:${iss}` : ''}${whose === undefined ? '' : `\nkey:${whose}`}`
    const primary = keys.primary({ host: ctx.origin, routeId: ctx.routeId, generation, partition, path: request.path, search: request.search, headers: request.headers })
    const cache = caches.default
    // A broken or unreadable entry is a miss, never a failure.
    const entry = (await lookup(cache, ctx.origin, primary, request.headers).catch(() => undefined))?.entry
    const state = entry && entryState(entry.freshness, ctx.runtime.now())
    if (entry && state?.state === 'fresh') return { hit: entry.response, remaining: state.remaining }
    entry?.response.body?.cancel().catch(() => {})

    return {
      keep(response, bytes) {
        const decision = decideStore(response.status, response.headers, freshness, false, ctx.runtime.now())
        if (!decision.store) return decision.reason
        // `bytes` are decoded: left with the origin's `Content-Encoding`, the Cache API would store
        // them re-encoded and a hit would read back gzip instead of JSON.
        const headers = new Headers(response.headers)
        headers.delete('content-encoding')
        headers.delete('content-length')
        const { response: unread, done } = store({
          cache,
          origin: ctx.origin,
          primary,
          headers: request.headers,
          now: ctx.runtime.now(),
          response: new Response(response.status === 204 ? null : bytes, { status: response.status, headers }),
          // An origin's own stale-* windows are of no use without a background refresh.
          freshness: { ...decision.freshness, swr: 0, sie: 0 },
          maxBodyBytes: bytes.byteLength,
          strip: [],
        })
        unread.body?.cancel().catch(() => {})
        return done
      },
    }
  }
}
