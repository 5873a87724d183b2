/**
 * @module
 * One request's spans, while it runs: published as `c.var.spans` only when the request is sampled
 * for OTLP export (`./telemetry.ts`), so every hook below is a single `undefined` check otherwise.
 *
 * The server span is the gateway's hop of the W3C trace (`./trace.ts`): its span id is the one the
 * gateway already sends the origin in `traceparent`, its parent the caller's. Its children:
 *   - a span per policy run (`edgeway.auth`, `edgeway.rate-limit`, `edgeway.cache`, ...), from
 *     `timedPolicy` (`./stage-timing.ts`): from the policy's start until it hands on (`next()`),
 *     or until it answers itself (a cache hit, a 401, a 429);
 *   - a client span per upstream try, from the try's `beforeSend` hook to its end (`TryEnd`); each
 *     try carries its own span id in `traceparent`, so the origin's span nests under the try;
 *   - a span per aggregation call (`edgeway.call <name>`), its tries nested under it.
 * Times are the gateway runtime's clock (ms), like every other timing in the gateway.
 */
import type { OutgoingRequest, TryEnd } from '../core/context'
import type { UpstreamLog } from '../core/logging'
import type { Phase } from '../core/policy'
import type { Runtime } from '../core/runtime'
import { newSpanId, type TraceContext } from './trace'

export type AttributeValue = string | number | boolean

/** OTLP `SpanKind`: internal, server, client. */
export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const

export type Span = {
  spanId: string
  parentSpanId?: string | undefined
  name: string
  kind: (typeof SPAN_KIND)[keyof typeof SPAN_KIND]
  /** Milliseconds since the epoch. */
  start: number
  end?: number | undefined
  attributes: Record<string, AttributeValue>
  /** Set for a failed operation (OTLP status code 2), with what failed. */
  error?: string | undefined
}

/**
 * Spans one request may hold at most: a large aggregation with retries can't grow a request's
 * memory without bound. Past it, spans are counted in `overflow` and not kept.
 */
export const MAX_SPANS_PER_REQUEST = 128

export type RequestSpans = {
  readonly trace: TraceContext
  readonly server: Span
  readonly spans: Span[]
  overflow: number
  /** Starts a child of the server span for a policy of `phase`; undefined past the cap. */
  phase(phase: Phase): Span | undefined
  /** The `beforeSend` hook: a client span per try, and its id in that try's `traceparent`. */
  onTry(request: OutgoingRequest): TryEnd | undefined
  /** Ends every span still open (a try the client's departure cut off) at `now`. */
  finish(now: number): Span[]
}

declare module 'hono' {
  interface ContextVariableMap {
    /** The request's spans, when it is sampled for OTLP export (`gateway.telemetry.otlp`). */
    spans: RequestSpans | undefined
  }
}

export function requestSpans(trace: TraceContext, start: number, runtime: Runtime, attributes: Record<string, AttributeValue>): RequestSpans {
  const server: Span = { spanId: trace.spanId, parentSpanId: trace.parentId, name: String(attributes['http.request.method']), kind: SPAN_KIND.server, start, attributes }
  const spans: Span[] = [server]
  /** The span of each aggregation call, by its log entry (a proxy call's tries hang off the server span). */
  const calls = new Map<UpstreamLog, Span>()
  const self: RequestSpans = {
    trace,
    server,
    spans,
    overflow: 0,
    phase(phase) {
      return add({ spanId: newSpanId(), parentSpanId: server.spanId, name: `edgeway.${phase}`, kind: SPAN_KIND.internal, start: runtime.now(), attributes: { 'edgeway.phase': phase } })
    },
    onTry(request) {
      const started = runtime.now()
      const url = new URL(request.url)
      const parent = request.call ? callSpan(request.call, started) : server
      const span = add({
        spanId: newSpanId(),
        parentSpanId: parent.spanId,
        name: request.method,
        kind: SPAN_KIND.client,
        start: started,
        attributes: {
          'http.request.method': request.method,
          'server.address': url.hostname,
          'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
          'url.scheme': url.protocol.slice(0, -1),
          // The path only: query values never go into a span, as in the log line.
          'url.path': url.pathname,
          ...(request.call?.name && { 'edgeway.upstream': request.call.name }),
        },
      })
      // Past the cap the try still goes out, under the server span's id.
      request.headers.set('traceparent', `00-${trace.traceId}-${(span ?? parent).spanId}-${trace.flags}`)
      if (!span) return undefined
      return ({ status, error }) => {
        span.end = runtime.now()
        if (status !== undefined) span.attributes['http.response.status_code'] = status
        if (error !== undefined) span.error = span.attributes['error.type'] = error
        else if (status !== undefined && status >= 500) span.error = span.attributes['error.type'] = String(status)
      }
    },
    finish(now) {
      for (const [log, span] of calls) endCall(span, log, now)
      for (const span of spans) span.end ??= now
      return spans
    },
  }

  function add(span: Span): Span | undefined {
    if (spans.length >= MAX_SPANS_PER_REQUEST) {
      self.overflow++
      return undefined
    }
    spans.push(span)
    return span
  }

  /** The span of an aggregation call (its log has `call`), opened at its first try; the server span for any other call. */
  function callSpan(log: UpstreamLog, started: number): Span {
    const name = (log as { call?: unknown }).call
    if (typeof name !== 'string') return server
    let span = calls.get(log)
    if (!span) {
      span = add({ spanId: newSpanId(), parentSpanId: server.spanId, name: `edgeway.call ${name}`, kind: SPAN_KIND.internal, start: started, attributes: { 'edgeway.call': name } })
      if (!span) return server
      calls.set(log, span)
    }
    return span
  }

  return self
}

/** An aggregation call's span ends where its log says the call ended (its body read), with its outcome. */
function endCall(span: Span, log: UpstreamLog & { outcome?: unknown }, now: number): void {
  span.end = Math.min(now, log.durationMs !== undefined ? span.start + log.durationMs : now)
  if (log.status !== undefined) span.attributes['http.response.status_code'] = log.status
  if (typeof log.outcome === 'string') span.attributes['edgeway.outcome'] = log.outcome
  if (log.outcome !== undefined && log.outcome !== 'ok') span.error = String(log.outcome)
}
