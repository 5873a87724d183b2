/**
 * @module
 * Request path normalisation, done once before matching so that the path a route is chosen by is
 * exactly the path the upstream receives. A request a route's policies were never asked about
 * (`/public/..%2fadmin`) must not reach that route's upstream.
 *
 * - Percent-encoded unreserved characters are decoded (`%7E` -> `~`, `%2e` -> `.`); every other
 *   escape keeps its encoding with upper-case hex (`%c3%a9` -> `%C3%A9`).
 * - Characters a path may not carry raw (RFC 3986 `pchar`) are percent-encoded as UTF-8: `é` ->
 *   `%C3%A9`, `"` -> `%22`. The bare runtime hands the worker such bytes unencoded, and `fetch`
 *   encodes them on the way to the origin: routing on the raw form would pick a route by a path
 *   the origin never sees (a route `/équipe/*` skipped by `/%C3%A9quipe/x`). Route patterns get
 *   the same treatment (`canonicalPattern`), so `/équipe/*` is matched by every spelling of it.
 * - `.` and `..` segments are resolved (also when written `%2e`), empty segments (`//`) collapse.
 * - Rejected with 400: encoded `/` or `\` (`%2F`, `%5C`) and raw `\`, which origins disagree on;
 *   `;` (matrix parameters, which some servers strip before routing); control characters and
 *   NUL, raw or encoded; malformed escapes; escapes that are not valid UTF-8 (overlong forms).
 *   `%25` stays `%25`: the path is decoded exactly once, so `%252f` is the literal text `%2f`.
 */
import { GatewayError } from '../core/errors'
import { percentEncodeUtf8 } from '../core/encoding'

const UNRESERVED = /^[A-Za-z0-9\-._~]$/
const HEX = /^[0-9A-Fa-f]{2}$/
/**
 * Starts with `/` and holds only characters normalisation never changes: path characters that need
 * no encoding, without `%` (escapes), `.` (dot segments) and `;` (rejected).
 */
const ALREADY_NORMAL = /^\/[A-Za-z0-9\-_~!$&'()*+,=:@/]*$/

function reject(reason: string): never {
  throw new GatewayError('ERR_BAD_REQUEST_PATH', { detail: reason })
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** Checks that a run of percent-escapes is valid UTF-8 (rejects overlong `%C0%AE` and the like). */
function checkUtf8(bytes: number[]): void {
  try {
    fatalUtf8.decode(new Uint8Array(bytes))
  } catch {
    reject('The path contains percent-escapes that are not valid UTF-8.')
  }
}

/** RFC 3986 `pchar` minus `%`: what a path segment may carry unencoded. */
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/

function normalizeSegment(segment: string): string {
  if (!/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/.test(segment)) return segment
  let out = ''
  let run: number[] = []
  const flush = () => {
    if (run.length > 0) checkUtf8(run)
    run = []
  }
  // By code point, so a raw character outside the BMP is encoded whole.
  const chars = [...segment]
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!
    if (ch !== '%') {
      flush()
      out += PCHAR.test(ch) ? ch : percentEncodeUtf8(ch)
      continue
    }
    const hex = (chars[i + 1] ?? '') + (chars[i + 2] ?? '')
    if (!HEX.test(hex)) reject('The path contains a malformed percent-escape.')
    const byte = parseInt(hex, 16)
    i += 2
    if (byte < 0x20 || byte === 0x7f) reject('The path contains an encoded control character.')
    if (byte === 0x2f || byte === 0x5c) reject('The path contains an encoded slash or backslash.')
    if (byte < 0x80) {
      flush()
      const decoded = String.fromCharCode(byte)
      out += UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`
    } else {
      run.push(byte)
      out += `%${hex.toUpperCase()}`
    }
  }
  flush()
  return out
}

/**
 * Returns the canonical form of a request path (no query), or throws a 400 `GatewayError`.
 * The result starts with `/`; a trailing slash is kept, since routes may tell `/a` from `/a/`.
 */
export function normalizePath(rawPath: string): string {
  // Most paths have nothing to normalise: no escapes, no dot segments, no empty segments and none
  // of the rejected characters. Those are returned as they are, without splitting.
  if (ALREADY_NORMAL.test(rawPath) && !rawPath.includes('//')) return rawPath
  if (!rawPath.startsWith('/')) reject('The path must start with "/".')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(rawPath)) reject('The path contains a control character.')
  if (rawPath.includes('\\')) reject('The path contains a backslash.')
  if (rawPath.includes(';')) reject('The path contains ";" (matrix parameters are not accepted).')
  const segments = rawPath.slice(1).split('/')
  const output: string[] = []
  for (let i = 0; i < segments.length; i++) {
    const segment = normalizeSegment(segments[i]!)
    const last = i === segments.length - 1
    if (segment === '.' || segment === '..') {
      if (segment === '..') output.pop()
      // `/a/b/..` names the directory `/a/`: keep the trailing slash.
      if (last) output.push('')
      continue
    }
    if (segment === '' && !last) continue
    output.push(segment)
  }
  return '/' + output.join('/')
}

/** The raw path of an absolute request URL (no query or fragment), as text, without re-parsing it. */
export function rawPathOf(url: string): string {
  const authority = url.indexOf('://') + 3
  let end = url.length
  for (const mark of ['?', '#']) {
    const at = url.indexOf(mark, authority)
    if (at >= 0 && at < end) end = at
  }
  const start = url.indexOf('/', authority)
  return start < 0 || start > end ? '/' : url.slice(start, end)
}

/**
 * A route's path pattern in the form `normalizePath` gives requests: escapes canonical (unreserved
 * ones decoded, hex upper-cased) and characters a path may not carry raw percent-encoded, so
 * `/équipe/*` matches `/%C3%A9quipe/x`. Parameters, `*` and regex groups (`:rest{.+}`) are left
 * alone; it never throws (a pattern that could never match stays one).
 */
export function canonicalPattern(pattern: string): string {
  return pattern
    .split('/')
    .map((segment) => {
      if (segment.includes('{')) return segment
      return [...segment.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
        const decoded = String.fromCharCode(parseInt(hex, 16))
        return UNRESERVED.test(decoded) ? decoded : `%${hex.toUpperCase()}`
      })]
        .map((ch) => (ch === '%' || PCHAR.test(ch) ? ch : percentEncodeUtf8(ch)))
        .join('')
    })
    .join('/')
}
