/**
 * An OpenTelemetry collector stand-in for tests, on 127.0.0.1: it takes OTLP/HTTP JSON trace
 * exports and checks their shape strictly against the OTLP JSON encoding of
 * `ExportTraceServiceRequest` (hex ids of the right length, enums as numbers, 64-bit integers as
 * decimal strings, one value kind per attribute, no unknown fields). An export that breaks a rule
 * is answered 400 and its problems are kept, so a test sees them.
 *
 * Each test uses its own tenant, created on first use:
 *   POST /t/T/v1/traces          an export: 200 `{}` when valid (or as the mode says)
 * Control:
 *   PUT  /t/T/_control/mode      body: { mode: "ok" | "hang" | "error" | "partial" }
 *                                hang: never answers; error: 503; partial: 200 rejecting 1 span
 *   GET  /t/T/_control/received  { exports, hung, spans, problems, headers }: spans flattened with
 *                                their resource's attributes; `hung`: exports left unanswered;
 *                                `headers` of the last export
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

type Mode = 'ok' | 'hang' | 'error' | 'partial'
type Tenant = { mode: Mode; exports: number; hung: number; spans: unknown[]; problems: string[]; headers: Record<string, string> }

export type TestCollector = { url: string; close(): Promise<void> }

const MAX_BODY = 5_000_000
const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`)
const SPAN_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId', 'traceState', 'flags', 'name', 'kind', 'startTimeUnixNano', 'endTimeUnixNano', 'attributes', 'droppedAttributesCount', 'events', 'droppedEventsCount', 'links', 'droppedLinksCount', 'status'])
const VALUE_KINDS = ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue']

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function checkAttributes(where: string, attributes: unknown, problems: string[]): void {
  if (!Array.isArray(attributes)) return void problems.push(`${where}: attributes is not an array`)
  const seen = new Set<string>()
  attributes.forEach((a, i) => {
    if (!isObject(a) || typeof a.key !== 'string' || a.key === '') return void problems.push(`${where}.attributes[${i}]: no key`)
    if (seen.has(a.key)) problems.push(`${where}.attributes[${i}]: duplicate key ${a.key}`)
    seen.add(a.key)
    const value = a.value
    const kinds = isObject(value) ? Object.keys(value) : []
    if (kinds.length !== 1 || !VALUE_KINDS.includes(kinds[0]!)) return void problems.push(`${where}.attributes[${i}] (${a.key}): value must have exactly one kind`)
    const v = (value as Record<string, unknown>)[kinds[0]!]
    const ok =
      kinds[0] === 'stringValue' ? typeof v === 'string'
      : kinds[0] === 'boolValue' ? typeof v === 'boolean'
      : kinds[0] === 'intValue' ? (typeof v === 'string' && /^-?\d+$/.test(v)) || Number.isInteger(v)
      : kinds[0] === 'doubleValue' ? typeof v === 'number'
      : true
    if (!ok) problems.push(`${where}.attributes[${i}] (${a.key}): ${kinds[0]} has the wrong type`)
  })
}

function checkSpan(where: string, span: unknown, problems: string[]): void {
  if (!isObject(span)) return void problems.push(`${where}: not an object`)
  for (const key of Object.keys(span)) if (!SPAN_FIELDS.has(key)) problems.push(`${where}: unknown field ${key}`)
  if (typeof span.traceId !== 'string' || !HEX(32).test(span.traceId) || /^0+$/.test(span.traceId)) problems.push(`${where}: traceId must be 32 lower-case hex digits, not all zero`)
  if (typeof span.spanId !== 'string' || !HEX(16).test(span.spanId) || /^0+$/.test(span.spanId)) problems.push(`${where}: spanId must be 16 lower-case hex digits, not all zero`)
  if (span.parentSpanId !== undefined && span.parentSpanId !== '' && (typeof span.parentSpanId !== 'string' || !HEX(16).test(span.parentSpanId))) problems.push(`${where}: parentSpanId must be 16 hex digits`)
  if (typeof span.name !== 'string' || span.name === '') problems.push(`${where}: name is empty`)
  if (!Number.isInteger(span.kind) || (span.kind as number) < 0 || (span.kind as number) > 5) problems.push(`${where}: kind must be a SpanKind number (0-5)`)
  const start = span.startTimeUnixNano
  const end = span.endTimeUnixNano
  if (typeof start !== 'string' || !/^\d+$/.test(start)) problems.push(`${where}: startTimeUnixNano must be a decimal string`)
  if (typeof end !== 'string' || !/^\d+$/.test(end)) problems.push(`${where}: endTimeUnixNano must be a decimal string`)
  else if (typeof start === 'string' && /^\d+$/.test(start) && BigInt(end) < BigInt(start)) problems.push(`${where}: ends before it starts`)
  checkAttributes(where, span.attributes ?? [], problems)
  const status = span.status
  if (status !== undefined && (!isObject(status) || ![0, 1, 2].includes(status.code as number) || (status.message !== undefined && typeof status.message !== 'string'))) {
    problems.push(`${where}: status must be { code: 0 | 1 | 2, message?: string }`)
  }
}

/** The spans of a valid export, flattened with their resource's attributes; problems otherwise. */
export function checkExport(body: unknown): { spans: unknown[]; problems: string[] } {
  const problems: string[] = []
  const spans: unknown[] = []
  if (!isObject(body) || !Array.isArray(body.resourceSpans) || body.resourceSpans.length === 0) return { spans, problems: ['resourceSpans must be a non-empty array'] }
  body.resourceSpans.forEach((rs, r) => {
    if (!isObject(rs) || !isObject(rs.resource) || !Array.isArray(rs.scopeSpans)) return void problems.push(`resourceSpans[${r}]: needs resource and scopeSpans`)
    checkAttributes(`resourceSpans[${r}].resource`, rs.resource.attributes, problems)
    rs.scopeSpans.forEach((ss, s) => {
      if (!isObject(ss) || !Array.isArray(ss.spans)) return void problems.push(`resourceSpans[${r}].scopeSpans[${s}]: needs spans`)
      if (ss.scope !== undefined && (!isObject(ss.scope) || typeof ss.scope.name !== 'string')) problems.push(`resourceSpans[${r}].scopeSpans[${s}]: scope needs a name`)
      ss.spans.forEach((span, i) => {
        checkSpan(`resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`, span, problems)
        spans.push({ ...(span as object), resource: rs.resource })
      })
    })
  })
  return { spans, problems }
}

export async function startCollector(port = 0): Promise<TestCollector> {
  const tenants = new Map<string, Tenant>()
  const tenant = (name: string) => {
    let t = tenants.get(name)
    if (!t) tenants.set(name, (t = { mode: 'ok', exports: 0, hung: 0, spans: [], problems: [], headers: {} }))
    return t
  }
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= MAX_BODY) chunks.push(chunk)
    })
    req.on('end', () => {
      const m = /^\/t\/([\w-]+)(\/.*)$/.exec(req.url ?? '')
      if (!m) return send(res, 404, { error: 'no tenant' })
      const t = tenant(m[1]!)
      const path = m[2]
      const text = Buffer.concat(chunks).toString('utf8')
      if (req.method === 'PUT' && path === '/_control/mode') {
        t.mode = (JSON.parse(text) as { mode: Mode }).mode
        return send(res, 204, {})
      }
      if (req.method === 'GET' && path === '/_control/received') return send(res, 200, { exports: t.exports, hung: t.hung, spans: t.spans, problems: t.problems, headers: t.headers })
      if (req.method !== 'POST' || path !== '/v1/traces') return send(res, 404, { error: 'unknown path' })
      if (t.mode === 'hang') return void t.hung++
      if (t.mode === 'error') return send(res, 503, { error: 'down' })
      t.headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]))
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
        t.problems.push(`content-type must be application/json, got ${req.headers['content-type']}`)
        return send(res, 415, { error: 'json only' })
      }
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        t.problems.push('the body is not JSON')
        return send(res, 400, { error: 'not json' })
      }
      const { spans, problems } = checkExport(body)
      t.exports++
      if (problems.length > 0) {
        t.problems.push(...problems)
        return send(res, 400, { error: problems.join('; ') })
      }
      t.spans.push(...spans)
      if (t.mode === 'partial') return send(res, 200, { partialSuccess: { rejectedSpans: '1', errorMessage: 'one span rejected' } })
      send(res, 200, {})
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const { port: bound } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
