/**
 * @module
 * What a cache entry holds, and how it leaves the gateway.
 *
 * The Cache API expires entries by `Cache-Control` and ignores `stale-while-revalidate` and
 * `stale-if-error`, so an entry is put with `max-age` covering its whole life (fresh + stale
 * windows); the origin's own `Cache-Control`, `Expires` and `Vary` and our bookkeeping (stored-at
 * time, freshness lifetime, stale windows) travel in internal headers. All of that is undone before
 * a response leaves: the client sees the origin's headers, a correct `Age` and `Cache-Status`.
 *
 * Per-client headers never enter an entry: the policies that add them (request id, rate limit,
 * CORS, sticky sessions) run outside the cache phase, and known ones are stripped here anyway.
 */
import { HOP_BY_HOP_HEADERS } from '../core/http'
import type { Freshness } from './freshness'
import { parseHttpDate } from './http-date'

const P = 'x-edgeway-cache-'
const STORED_AT = `${P}stored-at`
const TTL = `${P}ttl`
const SWR = `${P}swr`
const SIE = `${P}sie`
/**
 * The origin's status. Entries are put as 200: the Cache API (locally, miniflare) only keeps the
 * statuses it deems cacheable, while RFC 9111 lets any final status with explicit freshness be stored.
 */
const STATUS = `${P}status`
/** The stored body's length: the Cache API gives the body back without a Content-Length. */
const LENGTH = `${P}length`
/** Stashed origin headers the Cache API would otherwise act on. */
const STASHED = ['cache-control', 'expires', 'vary'] as const
/** Marks the entry at a primary key of a `Vary`-ing response: its value lists the varied headers. */
const VARIANTS = `${P}variants`
/** The targets (`cookie=id`) that produced the entry, for re-pinning clients on a hit (see `cache/pins`). */
const PINS = `${P}pins`
/** When the request that produced the entry was sent (ms): a purge of its path after that removes it (`./generation`). */
const SENT_AT = `${P}sent-at`

/** Headers that belong to one client or one hop, never to a stored response. */
export const PER_CLIENT_HEADERS = [
  'x-request-id',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'set-cookie',
  'set-cookie2',
  'age',
  'cf-cache-status',
  'cf-ray',
]

/** Names never stored: per client, per hop. */
const NEVER_STORED: ReadonlySet<string> = new Set([...PER_CLIENT_HEADERS, ...HOP_BY_HOP_HEADERS])
const CORS_GRANT = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers']

/** The bookkeeping every put carries: its freshness, and the Cache API's lifetime for it. */
function freshnessHeaders(freshness: Freshness, keepSeconds: number): [string, string][] {
  return [
    [STORED_AT, String(freshness.storedAt)],
    [TTL, String(freshness.ttl)],
    [SWR, String(freshness.swr)],
    [SIE, String(freshness.sie)],
    ['cache-control', `public, max-age=${keepSeconds}`],
  ]
}

/**
 * The response to `cache.put`: origin status, headers (per-client ones removed) and body. Its
 * headers start as a native copy of the origin's, and only the names it actually sent that must
 * not be stored are deleted: cheaper on workerd than a list of pairs (each pair converted on its
 * way into `Response`, ~3% of a stored miss's CPU) or blind deletes of every never-stored name.
 */
export function storedResponse(
  res: Response,
  body: Uint8Array | null,
  freshness: Freshness,
  keepSeconds: number,
  options: { strip: readonly string[]; varyNames: readonly string[]; pins?: readonly string[]; sentAt?: number },
): Response {
  // A CORS grant for one named origin is per client unless the entry is keyed by `Origin`.
  const allowOrigin = res.headers.get('access-control-allow-origin')
  const perClientGrant = allowOrigin !== null && allowOrigin.trim() !== '*' && !options.varyNames.includes('origin')
  const headers = new Headers(res.headers)
  // Iterated names are lower-case; `Set-Cookie` is never stored, so joined values lose nothing.
  for (const [name, value] of res.headers) {
    // An origin's own `x-edgeway-cache-*` names would be read back as the entry's bookkeeping.
    if (NEVER_STORED.has(name) || name.startsWith(P) || options.strip.includes(name) || (perClientGrant && CORS_GRANT.includes(name))) {
      headers.delete(name)
    } else if ((STASHED as readonly string[]).includes(name)) {
      // Stashed: the Cache API would act on them.
      headers.delete(name)
      headers.set(`${P}${name}`, value)
    }
  }
  if (options.pins?.length) headers.set(PINS, options.pins.join('; '))
  if (options.sentAt !== undefined) headers.set(SENT_AT, String(options.sentAt))
  for (const [name, value] of freshnessHeaders(freshness, keepSeconds)) headers.set(name, value)
  headers.set(STATUS, String(res.status))
  headers.set(LENGTH, String(body?.byteLength ?? 0))
  return new Response(body, { status: 200, statusText: res.statusText, headers })
}

/** The entry at the primary key of a `Vary`-ing response: it only names the varied headers. */
export function variantsMarker(names: readonly string[], freshness: Freshness, keepSeconds: number): Response {
  return new Response(null, { headers: [[VARIANTS, names.join(',')], ...freshnessHeaders(freshness, keepSeconds)] })
}

export type Entry = {
  freshness: Freshness
  /** Set on a `Vary` marker: the varied header names. */
  variants?: string[]
  /** The response as the client will see it (origin headers restored, bookkeeping removed). */
  response: Response
  /** `cookie=id` of the sticky targets that produced it. */
  pins: string[]
  /** When its request was sent (ms; 0 when not recorded): judged against the path's last purge. */
  sentAt: number
}

function count(headers: Headers, name: string): number | undefined {
  const value = headers.get(name)
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined
}

/** What an entry's headers say: its freshness, and the response the client will see, but its body. */
export type EntryHead = {
  freshness: Freshness
  /** Set on a `Vary` marker: the varied header names. */
  variants?: string[]
  status: number
  statusText: string
  /** The origin's headers restored, bookkeeping removed (a marker's are left as stored). */
  headers: Headers
  /** The stored body's length, when recorded. */
  length: number | undefined
  pins: string[]
  sentAt: number
}

/** Reads the headers of what `cache.match` returned; undefined when it is not one of our entries. */
export function readEntryHead(stored: Response): EntryHead | undefined {
  const h = stored.headers
  const storedAt = count(h, STORED_AT)
  const ttl = count(h, TTL)
  const swr = count(h, SWR)
  const sie = count(h, SIE)
  if (storedAt === undefined || ttl === undefined || swr === undefined || sie === undefined) return undefined
  const freshness = { storedAt, ttl, swr, sie }
  const variants = h.get(VARIANTS)
  if (variants !== null) return { freshness, variants: variants.split(',').filter(Boolean), status: stored.status, statusText: stored.statusText, headers: h, length: undefined, pins: [], sentAt: 0 }
  const headers = new Headers(h)
  const pins = (h.get(PINS) ?? '').split(';').map((p) => p.trim()).filter(Boolean)
  const status = count(h, STATUS) ?? stored.status
  const length = count(h, LENGTH)
  const sentAt = count(h, SENT_AT) ?? 0
  for (const name of [STORED_AT, TTL, SWR, SIE, PINS, SENT_AT, STATUS, LENGTH, 'cache-control', 'age', 'cf-cache-status']) headers.delete(name)
  if (length !== undefined && status !== 204 && status !== 205) headers.set('content-length', String(length))
  for (const name of STASHED) {
    const value = h.get(`${P}${name}`)
    headers.delete(`${P}${name}`)
    if (value !== null) headers.set(name, value)
  }
  return { freshness, status, statusText: stored.statusText, headers, length, pins, sentAt }
}

/** A null-body status (RFC 9110): the stored (empty) body is left behind. */
export const nullBodyStatus = (status: number) => status === 204 || status === 205

/** Reads what `cache.match` returned; undefined when it is not one of our entries. */
export function readEntry(stored: Response, head = readEntryHead(stored)): Entry | undefined {
  if (!head || head.variants) stored.body?.cancel().catch(() => {})
  if (!head) return undefined
  const { freshness, variants, pins, status, length, sentAt } = head
  if (variants) return { freshness, variants, response: stored, pins, sentAt }
  // Other bodies are streamed with their length known, so the client gets the Content-Length the origin sent.
  let body = stored.body
  if (nullBodyStatus(status)) body = (stored.body?.cancel().catch(() => {}), null)
  else if (body && length !== undefined) body = body.pipeThrough(new FixedLengthStream(length))
  return { freshness, pins, sentAt, response: new Response(body, { status, statusText: head.statusText, headers: head.headers }) }
}

/** Request preconditions: stripped from the cache's own requests to the origin (it answers them itself). */
export const CONDITIONAL_HEADERS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

/** Headers a 304 carries (RFC 9110 section 15.4.5). */
const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary']

function weakTag(tag: string): string {
  return tag.trim().replace(/^W\//, '')
}

/**
 * A 304 for a conditional request that a fresh entry satisfies, or undefined. `If-None-Match`
 * (weak comparison) wins over `If-Modified-Since` (RFC 9110 section 13.2.2). Only a 2xx entry
 * is a selected representation whose validators count (RFC 9110 section 13.2.1): a stored 404
 * with an ETag is answered in full.
 */
export function notModified(request: Headers, entry: Response): Response | undefined {
  if (entry.status < 200 || entry.status > 299) return undefined
  const inm = request.get('if-none-match')
  const imsText = inm === null ? request.get('if-modified-since') : null
  if (inm === null && imsText === null) return undefined
  const etag = entry.headers.get('etag')
  let match = false
  if (inm !== null) {
    match = inm.trim() === '*' || (etag !== null && inm.split(',').some((tag) => weakTag(tag) === weakTag(etag)))
  } else {
    const ims = parseHttpDate(imsText, Date.now())
    const lastModified = parseHttpDate(entry.headers.get('last-modified'), Date.now())
    match = ims !== undefined && lastModified !== undefined && lastModified <= ims
  }
  if (!match) return undefined
  const headers = new Headers()
  for (const name of NOT_MODIFIED_HEADERS) {
    const value = entry.headers.get(name)
    if (value !== null) headers.set(name, value)
  }
  entry.body?.cancel().catch(() => {})
  return new Response(null, { status: 304, headers })
}
