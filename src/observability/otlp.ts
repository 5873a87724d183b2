/**
 * @module
 * OTLP/HTTP JSON export of the gateway's spans (https://opentelemetry.io/docs/specs/otlp/, the
 * JSON encoding of `ExportTraceServiceRequest`: hex trace and span ids, enums as numbers, 64-bit
 * integers as decimal strings).
 *
 * The exporter is built per config and holds a bounded queue of encoded spans. A request adds its
 * spans after its response, inside its `waitUntil`; the request that finds no send scheduled
 * schedules one (`flushMs` later, or at once when `batchSpans` are waiting) in its own
 * `waitUntil`, as the aggregator's batcher does (`./batcher.ts`: no shared in-flight promise
 * between requests). A full queue drops new spans; an export that fails (collector down, a
 * non-2xx answer, no answer within `timeoutMs`) drops its batch: no retries, so a collector outage
 * costs a bounded amount of memory and one failed request per batch. Drops are counted
 * (`stats`) and logged at most once a minute (`reportSinkFailure`).
 */
import type { Runtime } from '../core/runtime'
import type { OtlpSettings } from './schema'
import { flushSchedule, reportSinkFailure, type WaitUntil } from './sink'
import type { AttributeValue, Span } from './spans'

type OtlpValue = { stringValue: string } | { boolValue: boolean } | { intValue: string } | { doubleValue: number }
type OtlpAttribute = { key: string; value: OtlpValue }

export type OtlpSpan = {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  startTimeUnixNano: string
  endTimeUnixNano: string
  attributes: OtlpAttribute[]
  status: { code: number; message?: string }
}

/** OTLP `Status.code`: unset, ok, error. */
const STATUS_UNSET = 0
const STATUS_ERROR = 2

function valueOf(value: AttributeValue): OtlpValue {
  if (typeof value === 'string') return { stringValue: value }
  if (typeof value === 'boolean') return { boolValue: value }
  return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value }
}

export function attributesOf(attributes: Record<string, AttributeValue>): OtlpAttribute[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: valueOf(value) }))
}

/** Milliseconds since the epoch as nanoseconds, exactly (past 2^53, so in BigInt). */
export function unixNanos(ms: number): string {
  const whole = Math.floor(ms)
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1_000_000))).toString()
}

export function encodeSpan(traceId: string, span: Span): OtlpSpan {
  return {
    traceId,
    spanId: span.spanId,
    ...(span.parentSpanId !== undefined && { parentSpanId: span.parentSpanId }),
    name: span.name,
    kind: span.kind,
    startTimeUnixNano: unixNanos(span.start),
    endTimeUnixNano: unixNanos(Math.max(span.start, span.end ?? span.start)),
    attributes: attributesOf(span.attributes),
    status: span.error !== undefined ? { code: STATUS_ERROR, message: span.error } : { code: STATUS_UNSET },
  }
}

/** The body of one export: one resource (the gateway), one scope, the batch's spans. */
export function exportRequest(resource: OtlpAttribute[], spans: OtlpSpan[]) {
  return { resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope: { name: 'edgeway' }, spans }] }] }
}

/** `partialSuccess.rejectedSpans` of a JSON answer; 0 for anything else (an empty or protobuf body). */
function rejectedSpans(contentType: string | null, text: string): number {
  if (!contentType?.includes('json')) return 0
  try {
    return Number((JSON.parse(text) as { partialSuccess?: { rejectedSpans?: unknown } } | null)?.partialSuccess?.rejectedSpans ?? 0)
  } catch {
    return 0
  }
}

export type ExportStats = {
  /** Spans the endpoint accepted. */
  exported: number
  /** Spans dropped: the queue was full, their export failed, or the endpoint rejected them (`partialSuccess`). */
  dropped: number
  /** Exports that failed (no answer, an error status, a timeout). */
  failedExports: number
}

export type OtlpExporter = {
  readonly stats: ExportStats
  /** Queues a request's spans and makes sure a send is scheduled. */
  add(spans: OtlpSpan[], waitUntil: WaitUntil): void
}

export type Send = (request: Request) => Promise<Response>

export function otlpExporter(settings: OtlpSettings, headers: Record<string, string>, resource: OtlpAttribute[], runtime: Runtime, send: Send = (r) => fetch(r)): OtlpExporter {
  const { endpoint, flushMs, batchSpans, queueSpans, timeoutMs } = settings
  const stats: ExportStats = { exported: 0, dropped: 0, failedExports: 0 }
  let queue: OtlpSpan[] = []
  const afterWrite = flushSchedule('otlp', runtime, flushMs)

  const drop = (count: number, err: unknown) => {
    stats.dropped += count
    reportSinkFailure('otlp', `${String(err)} (${stats.dropped} spans dropped so far)`)
  }

  async function post(batch: OtlpSpan[]): Promise<void> {
    const controller = new AbortController()
    const timer = runtime.setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    try {
      const res = await send(
        new Request(endpoint, {
          method: 'POST',
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: JSON.stringify(exportRequest(resource, batch)),
          signal: controller.signal,
        }),
      )
      const text = await res.text()
      if (!res.ok) throw new Error(`the OTLP endpoint answered ${res.status}`)
      // A 2xx may still reject some spans (OTLP partial success).
      const rejected = rejectedSpans(res.headers.get('content-type'), text)
      const taken = Number.isSafeInteger(rejected) && rejected > 0 ? Math.max(0, batch.length - rejected) : batch.length
      stats.exported += taken
      if (taken < batch.length) drop(batch.length - taken, 'the OTLP endpoint rejected spans')
    } catch (err) {
      stats.failedExports++
      drop(batch.length, err)
    } finally {
      runtime.clearTimeout(timer)
    }
  }

  async function flush(): Promise<void> {
    const all = queue
    queue = []
    for (let i = 0; i < all.length; i += batchSpans) await post(all.slice(i, i + batchSpans))
  }

  return {
    stats,
    add(spans, waitUntil) {
      const room = queueSpans - queue.length
      if (spans.length > room) drop(spans.length - Math.max(0, room), 'the OTLP queue is full')
      if (room > 0) queue.push(...spans.slice(0, room))
      afterWrite(queue.length >= batchSpans, waitUntil, flush)
    },
  }
}
