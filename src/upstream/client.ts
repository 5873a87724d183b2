/**
 * @module
 * The one way the gateway calls an upstream: the proxy action and every aggregation call go
 * through `callUpstream`, so timeouts, error mapping (and, as they land, balancing, retries and
 * circuit breaking) are written once.
 */
import { GatewayError } from '../errors'
import type { UpstreamLog } from '../logging'
import type { CompiledUpstream } from './upstream'

export type UpstreamCall = {
  method: string
  /** Path (percent-encoded) and query string (`?a=1` or empty). */
  path: string
  search: string
  headers: Headers
  body: ReadableStream | ArrayBuffer | string | null
  /** Longest wait for response headers, already capped by any deadline. */
  timeoutMs: number
  /** Let redirects and `101 Switching Protocols` through untouched. */
  websocket?: boolean
  /** Aborts the call from outside (an aggregation deadline, a client that went away). */
  signal?: AbortSignal
}

export type UpstreamResult = { response: Response; log: UpstreamLog }

/**
 * Sends one call. Resolves with the upstream's response (any status, redirects not followed);
 * rejects with a 504 `GatewayError` when headers don't arrive in time, 502 when the upstream can't
 * be reached. Neither error names the upstream's address; `log` (filled in either way) does.
 */
export async function callUpstream(upstream: CompiledUpstream, call: UpstreamCall, log: UpstreamLog): Promise<Response> {
  log.name = upstream.name
  log.target = upstream.label
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), call.timeoutMs)
  const onOuterAbort = () => controller.abort()
  call.signal?.addEventListener('abort', onOuterAbort)
  const started = Date.now()
  try {
    const response = await upstream.fetch(
      new Request(upstream.urlFor(call.path, call.search), {
        method: call.method,
        headers: call.headers,
        body: call.method === 'GET' || call.method === 'HEAD' ? null : call.body,
        redirect: 'manual',
        signal: controller.signal,
      }),
    )
    log.status = response.status
    return response
  } catch (err) {
    if (controller.signal.aborted && !call.signal?.aborted) {
      log.error = 'timeout'
      throw new GatewayError('ERR_UPSTREAM_TIMEOUT', { detail: 'The upstream did not answer in time.', cause: err })
    }
    log.error = call.signal?.aborted ? 'aborted' : 'unreachable'
    throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', { detail: 'The upstream could not be reached.', cause: err })
  } finally {
    log.durationMs = Date.now() - started
    clearTimeout(timer)
    call.signal?.removeEventListener('abort', onOuterAbort)
  }
}
