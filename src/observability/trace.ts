/**
 * @module
 * W3C Trace Context (https://www.w3.org/TR/trace-context/). The gateway is one hop of the trace:
 * it keeps the caller's trace id, sends the origin a `traceparent` with a new span id of its own
 * (the caller's span becomes the parent), and passes `tracestate` on. A request without a valid
 * `traceparent` starts a new trace (sampled flag set, so the origin's tracer records it); a
 * malformed one is replaced, and its `tracestate` dropped, as the spec asks. The trace id goes in
 * the log line next to the request id.
 */
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../core/context'

export type TraceContext = { traceId: string; spanId: string; parentId?: string | undefined; flags: string }

declare module 'hono' {
  interface ContextVariableMap {
    trace: TraceContext
  }
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^]*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)
/** tracestate: at most 32 comma-separated `key=value` members, 512 characters in all. */
const TRACESTATE_MEMBER = /^[a-z0-9][_0-9a-z\-*/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
/**
 * One buffer, filled by one `getRandomValues` call per request (trace id and span id together).
 * Per isolate, a scratch buffer only: filled and read synchronously, it carries nothing between
 * requests. Web Crypto rather than the runtime's `random()`: W3C trace ids must be unpredictable
 * and unique across the fleet, and no test depends on their values.
 */
const random = new Uint8Array(24)

function hexOf(bytes: Uint8Array, from: number, to: number): string {
  let out = ''
  let zero = true
  for (let i = from; i < to; i++) {
    const byte = bytes[i]!
    if (byte !== 0) zero = false
    out += HEX_BYTE[byte]!
  }
  // All zeros is the spec's invalid value (chance 2^-64 or less): make it valid.
  return zero ? '0'.repeat((to - from) * 2 - 1) + '1' : out
}

/** A new span id, and a new trace id when `withTrace`: random, never all zeros. */
function newIds(withTrace: boolean): { traceId: string; spanId: string } {
  crypto.getRandomValues(withTrace ? random : random.subarray(0, 8))
  return { spanId: hexOf(random, 0, 8), traceId: withTrace ? hexOf(random, 8, 24) : '' }
}

/** A new span id (for the gateway's own child spans): random, never all zeros. */
export function newSpanId(): string {
  return newIds(false).spanId
}

/** The parsed parent, or undefined when the header is absent or not valid. */
export function parseTraceparent(header: string | undefined): { traceId: string; parentId: string; flags: string } | undefined {
  if (header === undefined || header.length > 512) return undefined
  const m = TRACEPARENT.exec(header.trim())
  if (!m) return undefined
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return undefined
  return { traceId, parentId, flags }
}

export function validTracestate(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 512) return undefined
  const members = header.split(',').map((m) => m.trim()).filter((m) => m.length > 0)
  if (members.length === 0 || members.length > 32) return undefined
  return members.every((m) => TRACESTATE_MEMBER.test(m)) ? members.join(',') : undefined
}

/**
 * This hop's trace context for a request with `incoming` headers: the caller's trace continued (or
 * a new one), and the `traceparent`/`tracestate` the origin gets set on `upstream` (the draft's
 * headers). Shared by the middleware below and the gateway's compiled pass-through.
 */
export function continueTrace(incoming: Headers, upstream: Headers): TraceContext {
  const parent = parseTraceparent(incoming.get('traceparent') ?? undefined)
  const ids = newIds(parent === undefined)
  const trace: TraceContext = parent
    ? // Only the sampled bit is defined in version 00; the others are passed as zero.
      { traceId: parent.traceId, parentId: parent.parentId, spanId: ids.spanId, flags: (parseInt(parent.flags, 16) & 1 ? '01' : '00') }
    : { traceId: ids.traceId, spanId: ids.spanId, flags: '01' }
  upstream.set('traceparent', `00-${trace.traceId}-${trace.spanId}-${trace.flags}`)
  const state = parent ? validTracestate(incoming.get('tracestate') ?? undefined) : undefined
  if (state !== undefined) upstream.set('tracestate', state)
  else upstream.delete('tracestate')
  return trace
}

export function traceContext(): MiddlewareHandler<AppEnv> {
  return async function traceContext(c, next) {
    const trace = continueTrace(c.req.raw.headers, c.get('upstreamRequest').headers)
    c.set('trace', trace)
    c.get('log').traceId = trace.traceId
    c.get('log').spanId = trace.spanId
    await next()
  }
}
