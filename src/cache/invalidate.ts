/**
 * @module
 * Invalidation (RFC 9111 section 4.4): a non-error response to an unsafe method changed what the
 * target URI (and `Location` / `Content-Location` on the same origin) would answer, so their stored
 * responses go, in every variant: deleted in this data centre at once (before the client hears the
 * answer), and the path's purge generation (and its bucket's) bumped so that other locations
 * follow (coalesced, in the background; a failed bump is logged, never the request's failure),
 * while the isolate's budget of such KV writes lasts (`./propagation`).
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import { logEvent } from '../core/logging'
import { normalizePath } from '../routing/normalize'
import { forget } from '../http-cache/store'
import { partitionOf, type CacheSetup } from './lookup'
import { recordInvalidation } from './invalidated'

/** Methods RFC 9110 section 9.2.1 defines as safe: anything else may change the resource. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

export function isUnsafe(method: string): boolean {
  return !SAFE_METHODS.has(method)
}

type Target = { path: string; search: string }

/** The URIs one answer can invalidate: the request's own, its `Location` and its `Content-Location`. */
const MOST_TARGETS = 3

/**
 * Worst-case subrequests of one invalidation, per target URI: a KV read of its generations, a
 * delete per partition (the shared one, and the consumer's under `scope: "consumer"`), and the
 * background KV writes of the bumped generations (the path's and its bucket's).
 */
export function invalidationSubrequests(scope: CacheSetup['scope']): number {
  const partitions = scope === 'consumer' ? 2 : 1
  return MOST_TARGETS * (1 + partitions + 2)
}

/** The request's own target (as the cache keys it), and the same-origin URIs its answer names. */
function targetsOf(c: Context<AppEnv>, own: Target): Target[] {
  const targets = [own]
  const url = c.get('url')
  for (const name of ['location', 'content-location']) {
    const value = c.res.headers.get(name)
    if (value === null) continue
    let named: URL
    try {
      named = new URL(value, url)
    } catch {
      continue
    }
    // Another origin's entries are not ours to drop (RFC 9111 section 4.4: a denial-of-service guard).
    if (named.origin === url.origin) targets.push({ path: normalizePath(named.pathname), search: named.search })
  }
  return targets
}

/**
 * Drops what the answer to an unsafe request invalidates. `own` is the request's target as the
 * cache keys it, read before the action ran. Only on a non-error answer (2xx, 3xx).
 */
export async function invalidate(c: Context<AppEnv>, setup: CacheSetup, own: Target): Promise<void> {
  const status = c.res.status
  const route = c.get('route')
  if (status < 200 || status > 399 || !route) return
  const runtime = c.get('runtime')
  const where = await partitionOf(c, setup)
  const url = c.get('url')
  const storage = setup.cacheName ? await caches.open(setup.cacheName) : caches.default
  const partitions = [...new Set(['shared', ...(where ? [where.partition] : [])])]
  for (const target of targetsOf(c, own)) {
    // Before the delete: a GET of this path already sent, answered after it, is not stored (`./invalidated`).
    recordInvalidation(url.origin, target.path, runtime.now())
    try {
      const generation = await setup.generations.readRoute(route.id, runtime)
      for (const partition of partitions) {
        // The primary key holds the entry, or the marker of a Vary-ing one: without it no variant is found.
        const primary = setup.key.primary({ host: url.host, routeId: route.id, generation, partition, path: target.path, search: target.search, headers: c.req.raw.headers })
        await forget(storage, url.origin, primary)
      }
    } catch (err) {
      logEvent('cache_invalidation_failed', { route: route.id, reason: String(err) })
    }
    // Other locations: only while the isolate's budget of KV writes lasts (`./propagation`).
    if (!setup.generations.enabled || !setup.propagation.take(route.id, runtime)) continue
    runtime.waitUntil(
      c,
      setup.generations.bumpPath(target.path, runtime).catch((err: unknown) => logEvent('cache_invalidation_bump_failed', { route: route.id, reason: String(err) })),
    )
  }
}
