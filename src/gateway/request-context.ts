/**
 * @module
 * The first middleware every request passes: it gives the request an id and a start time, opens
 * its log record, prepares the draft of the upstream request, and writes the log line at the end.
 *
 * A client that goes away first still gets its line, with status 499: workerd aborts the request's
 * signal (the `enable_request_signal` flag) and drops the rest of the request's work at its next
 * `await`, so the line is written from the abort listener, never after `next()`.
 */
import type { MiddlewareHandler } from 'hono'
import type { AppEnv, UpstreamRequest } from '../core/context'
import { stripHopByHop } from '../core/http'
import { logClientGone, type LogWriter, type RequestLog } from '../core/logging'
import type { Runtime } from '../core/runtime'

/** Client-sent forwarding headers can't be trusted: the gateway sets its own. */
const UNTRUSTED_FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip']

function draftFor(request: Request, url: URL): UpstreamRequest {
  return { method: request.method, path: url.pathname, search: url.search, headers: forwardedHeaders(request, url) }
}

/** The headers the origin gets: the client's, hop-by-hop and forwarding ones dropped, the gateway's forwarding set. */
export function forwardedHeaders(request: Request, url: URL): Headers {
  const headers = new Headers(request.headers)
  stripHopByHop(headers)
  headers.delete('host')
  for (const name of UNTRUSTED_FORWARDING) headers.delete(name)
  const ip = request.headers.get('cf-connecting-ip')
  if (ip) headers.set('X-Forwarded-For', ip)
  headers.set('X-Forwarded-Proto', url.protocol.slice(0, -1))
  headers.set('X-Forwarded-Host', url.host)
  return headers
}

export function requestContext(options: { logRequests: boolean; writeLog: LogWriter; runtime: Runtime }): MiddlewareHandler<AppEnv> {
  const { logRequests, writeLog, runtime } = options
  return async function requestContext(c, next) {
    const startedAt = runtime.now()
    const requestId = runtime.randomId()
    const url = new URL(c.req.url)
    const log: RequestLog = { requestId, method: c.req.method, path: url.pathname }
    if (url.search.length > 1) log.queryKeys = [...new Set(url.searchParams.keys())]
    c.set('runtime', runtime)
    c.set('requestId', requestId)
    c.set('startedAt', startedAt)
    c.set('url', url)
    c.set('log', log)
    c.set('upstreamRequest', draftFor(c.req.raw, url))
    let written = false
    const signal = c.req.raw.signal
    const onClientGone = () => {
      if (written) return
      written = true
      logClientGone(log, runtime.now() - startedAt, logRequests ? writeLog : undefined)
      c.get('onClientGone')?.()
    }
    signal.addEventListener('abort', onClientGone)
    try {
      await next()
    } finally {
      signal.removeEventListener('abort', onClientGone)
    }
    if (written) return
    written = true
    log.status = c.res.status
    log.durationMs = runtime.now() - startedAt
    if (logRequests) writeLog(log)
  }
}
