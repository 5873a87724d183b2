/**
 * @module
 * Per-call caching of aggregation calls, with the Workers Cache API (per data centre). A GET call
 * with `cache: { ttl }` reuses a stored answer for `ttl` seconds, keyed by the upstream, the
 * rendered path and query, and the rendered `cache.key` template (`{consumer.id}` for per-user data).
 *
 * As careful as Hono's cache middleware: nothing is stored when the upstream says `private`,
 * `no-store` or `no-cache`, or sets a cookie; and a call that carries the client's `Authorization`
 * or `Cookie` is only cached when its `cache.key` says whose answer it is.
 * When the gateway's cache policy lands, this is the seam to move onto its machinery.
 */
import { readBody } from './body'

/** Not a real host: cache keys only need to be URLs, and this one can't collide with a route. */
const KEY_ORIGIN = 'https://aggregate-call.edgeway.invalid'

export type CallCacheOptions = { ttl: number; keyed: boolean }

export function cacheKey(upstream: string, path: string, search: string, extra: string | undefined): Request {
  const url = new URL(`${KEY_ORIGIN}/${encodeURIComponent(upstream)}${path}${search}`)
  if (extra !== undefined) url.searchParams.set('__edgeway_key', extra)
  return new Request(url)
}

/** Whether this request and response may be shared with later requests for the same key. */
export function mayStore(request: Headers, response: Headers, options: CallCacheOptions): boolean {
  if (!options.keyed && (request.has('authorization') || request.has('cookie'))) return false
  if (response.has('set-cookie')) return false
  const cc = (response.get('cache-control') ?? '').toLowerCase()
  return !/(^|[\s,])(private|no-store|no-cache)([\s,=]|$)/.test(cc)
}

function defaultCache(): Cache | undefined {
  return typeof caches === 'undefined' ? undefined : caches.default
}

export async function lookup(key: Request, read: { maxBytes: number; raw: boolean; signal: AbortSignal }) {
  const hit = await defaultCache()?.match(key)
  if (!hit) return undefined
  return { status: hit.status, headers: hit.headers, body: await readBody(hit, read) }
}

/**
 * Serialises the result now (shaping later edits the parsed body in place) and returns the store,
 * to be left to `waitUntil`.
 */
export function store(key: Request, value: unknown, raw: boolean, response: Response, ttl: number): Promise<void> {
  const headers = new Headers(response.headers)
  headers.set('Cache-Control', `max-age=${ttl}`)
  for (const name of ['content-length', 'content-encoding', 'transfer-encoding', 'age', 'expires', 'vary']) headers.delete(name)
  const text = raw ? String(value) : JSON.stringify(value)
  const cache = defaultCache()
  return cache ? cache.put(key, new Response(text, { status: response.status, headers })).catch(() => {}) : Promise.resolve()
}
