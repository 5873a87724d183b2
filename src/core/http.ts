/**
 * @module
 * Small HTTP helpers shared by the pipeline.
 */
import type { Context } from 'hono'

/**
 * Edits the headers of the response in `c.res`. A response straight from `fetch` or the cache has
 * immutable headers: then it is copied first (the edit's first write throws before changing anything).
 */
export function editResponseHeaders(c: Context, edit: (headers: Headers) => void): void {
  try {
    edit(c.res.headers)
  } catch (err) {
    if (!(err instanceof TypeError)) throw err
    const res = c.res
    c.res = undefined
    c.res = new Response(res.body, res)
    edit(c.res.headers)
  }
}

export function setResponseHeader(c: Context, name: string, value: string): void {
  editResponseHeaders(c, (headers) => headers.set(name, value))
}

/** Hop-by-hop headers (RFC 9110 section 7.6.1): meaningful for one connection only, never forwarded. */
export const HOP_BY_HOP_HEADERS = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
] as const

/** Removes hop-by-hop headers and any header the `Connection` header names. */
export function stripHopByHop(headers: Headers, keepUpgrade = false): void {
  const listed = headers.get('connection')
  if (listed) {
    for (const name of listed.split(',')) {
      const trimmed = name.trim().toLowerCase()
      if (trimmed && !(keepUpgrade && trimmed === 'upgrade')) headers.delete(trimmed)
    }
  }
  for (const name of HOP_BY_HOP_HEADERS) {
    if (keepUpgrade && (name === 'upgrade' || name === 'connection')) continue
    headers.delete(name)
  }
}
