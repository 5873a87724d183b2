// The lean baseline (issue 16): a hand-written Worker doing exactly the minimum the README
// promises for a pass-through route, and nothing else. Measured beside the bare worker (which only
// fetches) and the gateway, alternated in one run, so the tables show the cost of the promised work
// (lean vs bare) apart from the cost of the framework (gateway vs lean). Each step names the README
// section that promises it. Bindings (text): TARGET_URL, the origin's base URL.

// README "Proxying": hop-by-hop headers (Connection and what it names, Keep-Alive, TE, Upgrade,
// Proxy-*, ...) are removed both ways; client-sent forwarding headers are dropped.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']
const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip']

export function stripHopByHop(headers) {
  const listed = headers.get('connection')
  if (listed) for (const name of listed.split(',')) headers.delete(name.trim())
  for (const name of HOP_BY_HOP) headers.delete(name)
}

// README "Logging": trace and span ids in the log line; "Proxying": W3C traceparent is created or
// continued (the caller's trace id kept, a new span id of our own).
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

/**
 * README "Proxying": the origin's request headers, hop-by-hop stripped, forwarding headers dropped
 * and set by the gateway; "request-id" policy (default on): the id goes to the origin (and back to
 * the client); trace context continued. Exported for the hand-written twins (bench/hand-written/),
 * which do the same steps and more.
 */
export function upstreamHeaders(request, url, requestId) {
  const headers = new Headers(request.headers)
  stripHopByHop(headers)
  headers.delete('host')
  for (const name of FORWARDING) headers.delete(name)
  const ip = request.headers.get('cf-connecting-ip')
  if (ip) headers.set('X-Forwarded-For', ip)
  headers.set('X-Forwarded-Proto', url.protocol.slice(0, -1))
  headers.set('X-Forwarded-Host', url.host)
  headers.set('X-Request-Id', requestId)
  const ids = crypto.getRandomValues(new Uint8Array(24))
  const parent = TRACEPARENT.exec(request.headers.get('traceparent') ?? '')
  const traceId = parent ? parent[1] : hex(ids.subarray(8))
  const spanId = hex(ids.subarray(0, 8))
  headers.set('traceparent', `00-${traceId}-${spanId}-01`)
  headers.delete('tracestate')
  return { headers, traceId, spanId }
}

export default {
  async fetch(request, env) {
    const started = Date.now()
    // README "Request id": every request gets an id (log line, problem `instance`, X-Request-Id).
    const requestId = crypto.randomUUID()
    const url = new URL(request.url)
    const { headers, traceId, spanId } = upstreamHeaders(request, url, requestId)
    // README "Proxying": upstream redirects are passed to the client, never followed.
    const upstream = await fetch(env.TARGET_URL + url.pathname + url.search, { method: request.method, headers, body: request.body, redirect: 'manual' })
    // Response headers copied once and edited: hop-by-hop stripped, the request id added.
    const res = new Response(upstream.body, upstream)
    stripHopByHop(res.headers)
    res.headers.set('X-Request-Id', requestId)
    // README "Logging": one JSON line per request (no query values, only their names).
    console.log(JSON.stringify({ requestId, method: request.method, path: url.pathname, traceId, spanId, routeId: 'api', upstream: { name: 'origin', target: env.TARGET_URL, status: upstream.status }, status: res.status, durationMs: Date.now() - started }))
    return res
  },
}
