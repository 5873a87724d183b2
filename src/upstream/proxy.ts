/**
 * @module
 * Sends one request to one upstream and hands back its response, streaming both bodies.
 *
 * - Redirects are returned to the client, never followed (`redirect: "manual"`): following them
 *   would let an origin steer the gateway to other hosts.
 * - Two timeouts, neither of which cuts a long stream: time to response headers (504), and the
 *   longest pause between two body chunks (the stream is then aborted). A small body with a
 *   declared length (<= 64 KiB) is read whole instead, under one idle timer (504 when it stalls).
 * - A connection failure is 502. Neither error names the upstream's address: that goes to the log.
 * - Hop-by-hop headers are removed both ways, except the `Upgrade` handshake on WebSocket routes.
 */
import type { Context } from 'hono'
import type { AppEnv, UpstreamRequest } from '../core/context'
import { GatewayError } from '../core/errors'
import { stripHopByHop } from '../core/http'
import { withHeldBody } from '../core/body'
import type { UpstreamLog } from '../core/logging'
import type { Mirror } from './canary'
import { callUpstream, type CallOptions } from './client'
import type { CompiledUpstream } from './upstream'
import type { HedgeConfig } from './hedge'
import type { Runtime } from '../core/runtime'

export type ProxyOptions = {
  /** The path to send (after rewrites), percent-encoded. */
  path: string
  websocket: boolean
  /** Absolute time (ms) by which headers must have arrived, from the route's deadline. */
  deadline?: number | undefined
  /** Shadow traffic for this request (the action decided it is wanted). */
  mirror?: Mirror | undefined
  /** The route's `hedge` (`./hedge`). */
  hedge?: HedgeConfig | undefined
}

class IdleTimeoutError extends Error {
  constructor(ms: number) {
    super(`no body data from the upstream for ${ms} ms`)
    this.name = 'IdleTimeoutError'
  }
}

/**
 * Re-emits a body, failing it when no chunk arrives for `idleMs`. The timer runs only while the
 * gateway is waiting on the upstream, never while the client is slow to read.
 */
export function withIdleTimeout(body: ReadableStream<Uint8Array>, idleMs: number, runtime: Runtime): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: number | undefined
      const idle = new Promise<never>((_, reject) => {
        timer = runtime.setTimeout(() => reject(new IdleTimeoutError(idleMs)), idleMs)
      })
      try {
        const chunk = await Promise.race([reader.read(), idle])
        if (chunk.done) controller.close()
        else controller.enqueue(chunk.value)
      } catch (err) {
        reader.cancel(err).catch(() => {})
        controller.error(err)
      } finally {
        runtime.clearTimeout(timer)
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

/**
 * Bodies up to this declared size are read whole rather than streamed through `withIdleTimeout`:
 * in workerd a JS stream in the response path costs ~0.15 ms of CPU a response, more than the rest
 * of the proxy (measured with `npm run bench -- --profile`, docs/benchmarks.md). 64 KiB is
 * small enough that holding it back until complete delays the client by nothing noticeable.
 */
export const READ_WHOLE_UP_TO = 64 * 1024

/** A small body that could not be read whole: 504 when it stalled past the idle timeout, else 502. */
export function bodyReadError(cause: unknown, stalled: boolean, log: UpstreamLog): GatewayError {
  log.error = stalled ? 'idle-timeout' : 'body-error'
  return new GatewayError(stalled ? 'ERR_UPSTREAM_TIMEOUT' : 'ERR_UPSTREAM_UNREACHABLE', {
    detail: stalled ? 'The upstream stopped sending its response.' : 'The upstream response could not be read.',
    cause,
  })
}

/**
 * Reads a small body natively under one timer of `idleMs`: taking longer than that for the whole
 * body is a stall, answered 504 before any byte reaches the client (rather than a cut stream).
 */
async function readWhole(res: Response, idleMs: number, log: UpstreamLog, runtime: Runtime): Promise<ArrayBuffer> {
  let timer: number | undefined
  const idle = new Promise<never>((_, reject) => {
    timer = runtime.setTimeout(() => reject(new IdleTimeoutError(idleMs)), idleMs)
  })
  try {
    return await Promise.race([res.arrayBuffer(), idle])
  } catch (err) {
    res.body?.cancel(err).catch(() => {})
    throw bodyReadError(err, err instanceof IdleTimeoutError, log)
  } finally {
    runtime.clearTimeout(timer)
  }
}

export async function proxyToUpstream(c: Context<AppEnv>, upstream: CompiledUpstream, options: ProxyOptions): Promise<Response> {
  const draft = c.get('upstreamRequest')
  const upgrade = options.websocket && c.req.header('upgrade')?.toLowerCase() === 'websocket'
  // The draft's headers are already this request's own copy: copied again only when edited here
  // (the handshake), so that later readers of the draft (a cache store keying on it) still see the
  // request as the policies left it. `beforeSend` hooks run per try, on a copy, in `callUpstream`.
  const headers = upgrade ? new Headers(draft.headers) : draft.headers
  if (upgrade) {
    headers.set('Upgrade', 'websocket')
    headers.set('Connection', 'Upgrade')
  }
  let timeoutMs = upstream.timeouts.headers
  // When the route's deadline is nearer than the header timeout, it bounds the wait; its 504 says so.
  const now = upstream.runtime.now()
  const byDeadline = options.deadline !== undefined && options.deadline - now < timeoutMs
  if (byDeadline) timeoutMs = Math.max(0, options.deadline! - now)
  const log: UpstreamLog = { name: upstream.name }
  c.get('log').upstream = log
  const request: UpstreamRequest = {
    method: draft.method,
    path: options.path,
    search: draft.search,
    headers,
    body: draft.body !== undefined ? draft.body : c.req.raw.body,
    beforeSend: draft.beforeSend,
  }
  const call: CallOptions = { timeoutMs, signal: c.req.raw.signal, deadline: options.deadline, context: c, hedge: options.hedge }
  if (options.mirror) {
    // The copy needs the body too: read it once (the mirror only wants bodies it can hold).
    if (request.body !== null) request.body = await new Response(request.body).arrayBuffer()
    options.mirror.send(c, { ...request, headers: new Headers(headers) })
  }
  let res: Response
  try {
    res = await callUpstream(upstream, request, call, log)
  } catch (err) {
    if (!byDeadline || !(err instanceof GatewayError) || err.code !== 'ERR_UPSTREAM_TIMEOUT') throw err
    log.error = 'deadline'
    throw new GatewayError('ERR_UPSTREAM_TIMEOUT', { detail: "The route's deadline passed before the upstream answered.", cause: err })
  }
  if (res.status === 101 && res.webSocket) return res
  // The new Response copies the (immutable) upstream headers once; hop-by-hop ones are then
  // stripped from that copy.
  const init = { status: res.status, statusText: res.statusText, headers: res.headers }
  let out: Response
  if (!res.body) out = new Response(null, init)
  else if (Number(res.headers.get('content-length') ?? NaN) <= READ_WHOLE_UP_TO) {
    const bytes = await readWhole(res, upstream.timeouts.idle, log, upstream.runtime)
    out = withHeldBody(new Response(bytes, init), bytes)
  } else out = new Response(withIdleTimeout(res.body, upstream.timeouts.idle, upstream.runtime), init)
  stripHopByHop(out.headers)
  return out
}
