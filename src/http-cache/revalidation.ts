/**
 * @module
 * Revalidation (RFC 9111 section 4.3): a stored response that may not be served as it is (stale,
 * stored with `no-cache`, `must-revalidate` past its lifetime) is checked with the origin by a
 * conditional request built from its validators; a 304 freshens the stored response's headers
 * (section 4.3.4) and its body is served again, without being sent twice.
 */
import { HOP_BY_HOP_HEADERS } from '../core/http'

/**
 * How long (s) an entry is kept past its lifetime: to be revalidated (when it has validators), or
 * served stale when the origin can't be reached and its directives allow it (RFC 9111 section 4.2.4).
 */
export const KEEP_PAST_LIFETIME = 3600

export function hasValidators(headers: Headers): boolean {
  return headers.has('etag') || headers.has('last-modified')
}

/** The conditional request headers a stored response's validators give (RFC 9111 section 4.3.1). */
export function validatorsOf(stored: Headers): [string, string][] {
  const out: [string, string][] = []
  const etag = stored.get('etag')
  const lastModified = stored.get('last-modified')
  if (etag !== null) out.push(['if-none-match', etag])
  if (lastModified !== null) out.push(['if-modified-since', lastModified])
  return out
}

/**
 * Fields a 304 does not update (RFC 9111 section 3.2): the stored body's framing (its length and
 * coding are the stored bytes'), and fields that belong to one hop.
 */
const NOT_UPDATED = new Set(['content-length', 'content-encoding', 'content-range', 'transfer-encoding', ...HOP_BY_HOP_HEADERS])

/** The stored response with the 304's header fields in place of its own (RFC 9111 section 4.3.4), stored body and status. */
export function freshenedBy(stored: Response, notModified: Headers): Response {
  const headers = new Headers(stored.headers)
  const named = (notModified.get('connection') ?? '').split(',').map((n) => n.trim().toLowerCase())
  for (const [name, value] of notModified) {
    if (NOT_UPDATED.has(name) || named.includes(name)) continue
    headers.set(name, value)
  }
  return new Response(stored.body, { status: stored.status, statusText: stored.statusText, headers })
}
