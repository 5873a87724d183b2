/**
 * @module
 * Sends one request to one upstream and hands back its response, streaming both bodies.
 *
 * - Redirects are returned to the client, never followed (`redirect: "manual"`): following them
 *   would let an origin steer the gateway to other hosts.
 * - Two timeouts, neither of which cuts a long stream: time to response headers (504), and the
 *   longest pause between two body chunks (the stream is then aborted).
 * - A connection failure is 502. Neither error names the upstream's address: that goes to the log.
 * - Hop-by-hop headers are removed both ways, except the `Upgrade` handshake on WebSocket routes.
 */
import type { Context } from 'hono'
import type { AppEnv, UpstreamRequestDraft } from '../context'
import { GatewayError } from '../errors'
import { stripHopByHop } from '../http'
import type { UpstreamLog } from '../logging'
import type { CompiledUpstream } from './upstream'

export type ProxyOptions = {
  /** The path to send (after rewrites), percent-encoded. */
  path: string
  websocket: boolean
  /** Absolute time (ms) by which headers must have arrived, from the route's deadline. */
  deadline?: number | undefined
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
function withIdleTimeout(body: ReadableStream<Uint8Array>, idleMs: number): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new IdleTimeoutError(idleMs)), idleMs)
      })
      try {
        const chunk = await Promise.race([reader.read(), idle])
        if (chunk.done) controller.close()
        else controller.enqueue(chunk.value)
      } catch (err) {
        reader.cancel(err).catch(() => {})
        controller.error(err)
      } finally {
        if (timer !== undefined) clearTimeout(timer)
      }
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

/** Builds the upstream request from the draft the policies edited. */
export function buildUpstreamRequest(
  c: Context<AppEnv>,
  draft: UpstreamRequestDraft,
  url: string,
  websocket: boolean,
  signal?: AbortSignal,
): Request {
  const headers = new Headers(draft.headers)
  if (websocket && c.req.header('upgrade')?.toLowerCase() === 'websocket') {
    headers.set('Upgrade', 'websocket')
    headers.set('Connection', 'Upgrade')
  }
  const hasBody = draft.method !== 'GET' && draft.method !== 'HEAD'
  return new Request(url, {
    method: draft.method,
    headers,
    body: hasBody ? c.req.raw.body : null,
    redirect: 'manual',
    ...(signal && { signal }),
  })
}

export async function proxyToUpstream(c: Context<AppEnv>, upstream: CompiledUpstream, options: ProxyOptions): Promise<Response> {
  const draft = c.var.upstreamRequest
  const url = upstream.urlFor(options.path, draft.search)
  const log: UpstreamLog = { name: upstream.name, target: upstream.label }
  c.var.log.upstream = log

  let wait = upstream.timeouts.headers
  if (options.deadline !== undefined) wait = Math.min(wait, Math.max(0, options.deadline - Date.now()))
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), wait)
  const started = Date.now()
  let res: Response
  try {
    res = await upstream.fetch(buildUpstreamRequest(c, draft, url, options.websocket, controller.signal))
  } catch (err) {
    log.durationMs = Date.now() - started
    if (controller.signal.aborted) {
      log.error = 'timeout'
      throw new GatewayError('ERR_UPSTREAM_TIMEOUT', { detail: 'The upstream did not answer in time.', cause: err })
    }
    log.error = 'unreachable'
    throw new GatewayError('ERR_UPSTREAM_UNREACHABLE', { detail: 'The upstream could not be reached.', cause: err })
  } finally {
    clearTimeout(timer)
  }
  log.status = res.status
  log.durationMs = Date.now() - started

  if (res.status === 101 && res.webSocket) return res
  const headers = new Headers(res.headers)
  stripHopByHop(headers)
  const body = res.body ? withIdleTimeout(res.body, upstream.timeouts.idle) : null
  return new Response(body, { status: res.status, statusText: res.statusText, headers })
}
