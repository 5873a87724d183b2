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
import type { AppEnv } from '../context'
import { stripHopByHop } from '../http'
import type { UpstreamLog } from '../logging'
import type { Mirror } from './canary'
import { callUpstream, type UpstreamCall } from './client'
import type { CompiledUpstream } from './upstream'

export type ProxyOptions = {
  /** The path to send (after rewrites), percent-encoded. */
  path: string
  websocket: boolean
  /** Absolute time (ms) by which headers must have arrived, from the route's deadline. */
  deadline?: number | undefined
  /** Shadow traffic for this request (the action decided it is wanted). */
  mirror?: Mirror | undefined
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

export async function proxyToUpstream(c: Context<AppEnv>, upstream: CompiledUpstream, options: ProxyOptions): Promise<Response> {
  const draft = c.var.upstreamRequest
  const headers = new Headers(draft.headers)
  if (options.websocket && c.req.header('upgrade')?.toLowerCase() === 'websocket') {
    headers.set('Upgrade', 'websocket')
    headers.set('Connection', 'Upgrade')
  }
  let timeoutMs = upstream.timeouts.headers
  if (options.deadline !== undefined) timeoutMs = Math.min(timeoutMs, Math.max(0, options.deadline - Date.now()))
  for (const hook of draft.beforeSend ?? []) {
    await hook({ method: draft.method, url: upstream.urlFor(options.path, draft.search), headers })
  }
  const log: UpstreamLog = { name: upstream.name }
  c.var.log.upstream = log
  const call: UpstreamCall = {
    method: draft.method,
    path: options.path,
    search: draft.search,
    headers,
    body: draft.body !== undefined ? draft.body : c.req.raw.body,
    timeoutMs,
    websocket: options.websocket,
    signal: c.req.raw.signal,
    deadline: options.deadline,
    context: c,
  }
  if (options.mirror) {
    // The copy needs the body too: read it once (the mirror only wants bodies it can hold).
    if (call.body !== null) call.body = await c.req.raw.arrayBuffer()
    options.mirror.send(c, { ...call, headers: new Headers(headers) })
  }
  const res = await callUpstream(upstream, call, log)
  if (res.status === 101 && res.webSocket) return res
  const outHeaders = new Headers(res.headers)
  stripHopByHop(outHeaders)
  const body = res.body ? withIdleTimeout(res.body, upstream.timeouts.idle) : null
  return new Response(body, { status: res.status, statusText: res.statusText, headers: outHeaders })
}
