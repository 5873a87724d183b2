/**
 * @module
 * Range requests answered from a complete stored response (RFC 9110 section 14): one byte range,
 * `bytes=first-last`, `bytes=first-` or `bytes=-suffix`, gets a 206 with its `Content-Range`; one
 * that starts past the end gets a 416. Several ranges, or another unit, are not ours to answer: the
 * full stored response is served, as RFC 9110 lets a server ignore `Range`.
 */

/** The inclusive byte span `header` asks of `length` bytes; `unsatisfiable`; or undefined when it is not a single byte range. */
export function byteRange(header: string, length: number): [number, number] | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0) return 'unsatisfiable'
    return [Math.max(0, length - suffix), length - 1]
  }
  const first = Number(m[1])
  const last = m[2] === '' ? length - 1 : Math.min(Number(m[2]), length - 1)
  if (m[2] !== '' && Number(m[2]) < first) return undefined
  if (first >= length) return 'unsatisfiable'
  return [first, last]
}

/** The answer to `range` from a complete stored 200 (its body is read). */
export async function partialFrom(stored: Response, range: string): Promise<Response> {
  const bytes = new Uint8Array(await stored.arrayBuffer())
  const span = byteRange(range, bytes.byteLength)
  const headers = new Headers(stored.headers)
  headers.delete('content-length')
  if (span === undefined) return new Response(bytes, { status: stored.status, statusText: stored.statusText, headers })
  if (span === 'unsatisfiable') {
    headers.set('content-range', `bytes */${bytes.byteLength}`)
    return new Response(null, { status: 416, headers })
  }
  const [first, last] = span
  headers.set('content-range', `bytes ${first}-${last}/${bytes.byteLength}`)
  return new Response(bytes.slice(first, last + 1), { status: 206, headers })
}
