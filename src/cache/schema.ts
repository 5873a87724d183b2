/**
 * @module
 * Config schema of the `cache` policy: freshness defaults and bounds, scope, key, statuses, purge.
 * Cross-field checks are in `./checks`; the policy itself in `./policy`.
 */
import * as v from 'valibot'
import { HeaderName, Name } from '../core/schema'
import { PurgeSchema } from '../http-cache/generation'

const Seconds = v.pipe(v.number(), v.integer('must be whole seconds'), v.minValue(0), v.maxValue(31_536_000))
/** Statuses the Cache API accepts; the default is RFC 9111's "heuristically cacheable" ones (no 206). */
export const STORABLE_STATUSES = [200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501] as const
const DEFAULT_STATUSES: (typeof STORABLE_STATUSES)[number][] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]
/** The `cache` policy's options. */
export const CacheOptionsSchema = v.strictObject({
  type: v.literal('cache'),
  scope: v.pipe(
    v.optional(v.picklist(['public', 'consumer'])),
    v.description(SCHEMA_DOCS ? 'Requests with credentials: unset = bypass the cache; "public" = share (the response is the same for everyone); "consumer" = one entry per consumer.' : ''),
  ),
  defaultTtl: v.pipe(v.optional(Seconds, 0), v.description(SCHEMA_DOCS ? 'Freshness (s) of a response without Cache-Control max-age/s-maxage or Expires; 0 = not stored.' : '')),
  maxTtl: v.pipe(v.optional(Seconds, 86_400), v.description(SCHEMA_DOCS ? 'Upper bound (s) on any freshness lifetime and stale window.' : '')),
  heuristicFraction: v.pipe(
    v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0),
    v.description(SCHEMA_DOCS ? 'Heuristic freshness (RFC 9111 4.2.2) for `statuses` without explicit freshness: this fraction of the time since Last-Modified (0.1 is usual); 0 = off, defaultTtl applies.' : ''),
  ),
  staleWhileRevalidate: v.pipe(v.optional(Seconds, 0), v.description(SCHEMA_DOCS ? 'Default stale-while-revalidate (s) when the origin gives none.' : '')),
  staleIfError: v.pipe(v.optional(Seconds, 0), v.description(SCHEMA_DOCS ? 'Default stale-if-error (s) when the origin gives none.' : '')),
  maxBodyBytes: v.pipe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(64 * 1024 * 1024)), 1_048_576),
    v.description(SCHEMA_DOCS ? 'Larger responses are not stored. The copy being stored is held in memory up to this size.' : ''),
  ),
  statuses: v.pipe(
    v.optional(v.pipe(v.array(v.picklist(STORABLE_STATUSES, `must be one of ${STORABLE_STATUSES.join(', ')}`)), v.minLength(1)), DEFAULT_STATUSES),
    v.description(SCHEMA_DOCS ? 'Statuses that may be stored without explicit freshness, under defaultTtl (default: RFC 9110 heuristically cacheable ones). With max-age, s-maxage or Expires any final status is stored.' : ''),
  ),
  query: v.optional(
    v.strictObject({
      include: v.pipe(v.optional(v.array(v.string())), v.description(SCHEMA_DOCS ? 'Only these parameters are part of the key.' : '')),
      exclude: v.pipe(v.optional(v.array(v.string())), v.description(SCHEMA_DOCS ? 'These parameters are not part of the key.' : '')),
      sort: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Parameter order does not matter.' : '')),
    }),
    {},
  ),
  keyHeaders: v.pipe(v.optional(v.array(HeaderName), []), v.description(SCHEMA_DOCS ? 'Request headers whose values are part of the key.' : '')),
  credentials: v.optional(
    v.strictObject({
      headers: v.pipe(v.optional(v.array(HeaderName), ['X-API-Key']), v.description(SCHEMA_DOCS ? 'API key headers (Authorization is always a credential).' : '')),
      query: v.pipe(v.optional(v.array(v.string()), ['api_key', 'apikey', 'key', 'access_token']), v.description(SCHEMA_DOCS ? 'API key query parameters (never part of a key).' : '')),
      cookies: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'A request with a Cookie header has credentials.' : '')),
    }),
    {},
  ),
  targetedField: v.pipe(
    v.optional(HeaderName),
    v.description(SCHEMA_DOCS ? 'A response header of the origin that speaks to this gateway only (RFC 9213), over CDN-Cache-Control and Cache-Control; removed before the response leaves.' : ''),
  ),
  cacheName: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'A named cache (caches.open) instead of caches.default.' : '')),
  purge: PurgeSchema,
  invalidationWritesPerMinute: v.pipe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(60_000)), 60),
    v.description(
      SCHEMA_DOCS
        ? 'Unsafe requests\' invalidations an isolate carries to other locations a minute (each a KV write of the path\'s purge generation, plus its bucket\'s, coalesced). Past it, an invalidation deletes in this data centre only and is logged; 0 = this data centre only, always.'
        : '',
    ),
  ),
})

export type CacheOptions = v.InferOutput<typeof CacheOptionsSchema>
