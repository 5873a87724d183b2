/**
 * @module
 * Admin endpoint to purge the cache everywhere (see `../http-cache/generation`):
 *
 *   POST {admin prefix}/cache/purge   { "all": true } | { "route": "users" } | { "url": "/users/1" }
 *
 * `url` purges every entry of that path (all query strings, variants and consumers) on any host.
 * `all` and `route` also reach cached aggregation calls; `url` does not (their entries are keyed
 * by upstream paths, not gateway URLs).
 */
import type { Context } from 'hono'
import { boundedBodyText, onFirstUse, type AdminExtension } from '../core/admin'
import type { AppEnv } from '../core/context'
import type { ActionView } from '../core/config-view'
import type { CacheOptions } from './schema'
import { GatewayError } from '../core/errors'
import { normalizePath, rawPathOf } from '../routing/normalize'
import { purge, type PurgeSettings, type PurgeTarget } from '../http-cache/generation'

type PurgeBody = { all?: unknown; route?: unknown; url?: unknown }
const PURGE_FIELDS: string[] = ['all', 'route', 'url']
/** Room for the longest `url` (16 KiB) and the JSON around it. */
const MAX_BODY_BYTES = 20_480

function badRequest(detail: string): GatewayError {
  return new GatewayError('ERR_BAD_REQUEST', { detail })
}

/** What purging reads of an `aggregate` action (aggregation's own section): its calls' caches. */
type AggregateView = ActionView & { calls: { cache?: { purge: PurgeSettings } | undefined }[] }

/** The body, parsed: exactly one known field, nothing else (an option this gateway lacks, "dryRun", is refused, never ignored). */
async function purgeBody(c: Context<AppEnv>): Promise<PurgeBody> {
  let body: PurgeBody
  try {
    body = JSON.parse(await boundedBodyText(c, MAX_BODY_BYTES)) as PurgeBody
  } catch (err) {
    if (err instanceof GatewayError) throw err
    throw badRequest('The body must be JSON: {"all": true}, {"route": "<id>"} or {"url": "/path"}.')
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON object.')
  const unknown = Object.keys(body).filter((k) => !PURGE_FIELDS.includes(k))
  if (unknown.length > 0) throw badRequest(`Unknown field ${JSON.stringify(unknown[0])}: give exactly one of "all", "route" or "url".`)
  if (PURGE_FIELDS.filter((k) => body[k as keyof PurgeBody] !== undefined).length !== 1) throw badRequest('Give exactly one of "all", "route" or "url".')
  return body
}

/** What the body asks to purge; a route must be one whose purge can reach something. */
function targetOf(body: PurgeBody, routeIds: string[], cachedRoutes: Set<string>): PurgeTarget {
  if (body.all !== undefined) {
    if (body.all !== true) throw badRequest('"all" must be true.')
    return { all: true }
  }
  if (body.route !== undefined) {
    if (typeof body.route !== 'string' || !routeIds.includes(body.route)) {
      throw badRequest(`Unknown route ${JSON.stringify(body.route)} (known: ${routeIds.join(', ')}).`)
    }
    if (!cachedRoutes.has(body.route)) {
      throw badRequest(`Route "${body.route}" has no cache policy (of its own or global) and no cached aggregation call: nothing to purge.`)
    }
    return { route: body.route }
  }
  const url = body.url
  if (typeof url !== 'string' || !/^(\/|https?:\/\/)/.test(url) || url.length > 16_384) throw badRequest('"url" must be a path ("/users/1") or an http(s) URL.')
  return { path: normalizePath(url.startsWith('/') ? url.split(/[?#]/)[0]! : rawPathOf(url)) }
}

export const cacheAdmin: AdminExtension = (app, { config, env }) => {
  const scan = onFirstUse(() => {
    const stores = new Map<string, number>()
    const cachePolicies = [...config.policies, ...config.routes.flatMap((r) => r.policies)].filter((p) => p.type === 'cache') as CacheOptions[]
    const purges: PurgeSettings[] = cachePolicies.map((p) => p.purge)
    // Cached aggregation calls keep their entries under the same generations.
    for (const { action } of config.routes) if (action.type === 'aggregate') for (const { cache } of (action as AggregateView).calls) if (cache) purges.push(cache.purge)
    for (const { kv, cacheSeconds } of purges) stores.set(kv, Math.max(stores.get(kv) ?? 0, cacheSeconds))
    const routeIds = config.routes.map((r) => r.id)
    // A route whose purge can reach something: it has (or inherits) a cache policy, or caches an aggregation call.
    const globalCache = config.policies.some((p) => p.type === 'cache')
    const cachedRoutes = new Set(
      config.routes
        .filter((r) => globalCache || r.policies.some((p) => p.type === 'cache') || (r.action.type === 'aggregate' && (r.action as AggregateView).calls.some((call) => call.cache)))
        .map((r) => r.id),
    )
    return { stores, routeIds, cachedRoutes }
  })

  app.post('/cache/purge', async (c) => {
    const { stores, routeIds, cachedRoutes } = scan()
    const target = targetOf(await purgeBody(c), routeIds, cachedRoutes)
    if (stores.size === 0) throw badRequest('No route uses the cache policy.')
    const generations: Record<string, string> = {}
    for (const [binding, cacheSeconds] of stores) {
      const kv = env[binding] as KVNamespace | undefined
      if (!kv) {
        throw new GatewayError('ERR_CACHE_PURGE_UNAVAILABLE', { detail: `The KV binding "${binding}" that holds purge generations is not configured.` })
      }
      generations[binding] = await purge(kv, binding, target, cacheSeconds, c.get('runtime'))
    }
    return c.json({ purged: 'path' in target ? { url: target.path } : target, generations })
  })
}
