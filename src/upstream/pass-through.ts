/**
 * @module
 * The proxy's fast path for a plain upstream (one target; no health checks, retries, sticky
 * sessions, breakers, fallback or total timeout): what `proxyToUpstream` -> `callUpstream` ->
 * `tryTarget` do for such an upstream, written straight, for the gateway's compiled pass-through
 * (`gateway/fast-path.ts`). Same promises, same log fields and errors:
 *
 * - redirects are returned, never followed; hop-by-hop headers are stripped from the response;
 * - 504 when headers don't arrive within `timeouts.headers`, 502 when the target can't be reached
 *   or answers with no valid final status (an interim 1xx is read through, as `tryTarget` does);
 * - a small body with a declared length is read whole, and a stall inside it is a 504; a larger
 *   one is streamed under the idle timeout (`withIdleTimeout`).
 *
 * One timer per request, armed once: the header timeout's timer also bounds the small body. When
 * headers arrive it stays armed; if it fires while the body is still within its idle timeout it
 * re-arms for the rest (only a body read slower than `headers` takes that), and it is re-armed at
 * the headers only when the idle deadline is sooner than the header one.
 */
import type { Context, Handler } from 'hono'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import type { UpstreamLog } from '../core/logging'
import type { TimerHandle } from '../core/runtime'
import { stripHopByHop } from '../core/http'
import { withHeldBody } from '../core/body'
import { fetchError, invalidResponse, isInterim, validFinalStatus } from './attempt'
import { finalAfterInterim } from './interim'
import { bodyReadError, proxyToUpstream, READ_WHOLE_UP_TO, withIdleTimeout } from './proxy'
import type { Target } from './pool'
import type { CompiledUpstream } from './upstream'

/** Removes `prefix` when it is a whole leading run of segments: `/api` strips `/api/x`, not `/apix`. */
export function stripPathPrefix(path: string, prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '')
  if (path === trimmed) return '/'
  if (path.startsWith(trimmed + '/')) return path.slice(trimmed.length)
  return path
}

/** The one target of an upstream the fast path can send to as is; undefined for any other upstream. */
export function plainTarget(upstream: CompiledUpstream): Target | undefined {
  const plain =
    upstream.targets.length === 1 &&
    !upstream.active &&
    !upstream.retry &&
    !upstream.sticky &&
    !upstream.passive &&
    !upstream.breakers &&
    !upstream.fallback &&
    upstream.timeouts.total === undefined
  const target = upstream.targets[0]!
  return plain && target.weight > 0 ? target : undefined
}

/** One request's call to a plain upstream. Built per request; `abort()` is for a client that went away. */
export class PassThroughCall {
  private readonly controller = new AbortController()
  private timer: TimerHandle | undefined
  /** When the timer fires (runtime ms), and what it bounds: the headers, then the small body. */
  private due = 0
  private bodyDue = 0
  private expired = false
  private aborted = false
  private counted = false
  private started = 0

  /**
   * `holdBody`: a small body read whole is held by the response made around it (`withHeldBody`),
   * for a policy further out that reads it (the cache's store). A route with no policies has none.
   */
  constructor(
    private readonly upstream: CompiledUpstream,
    private readonly target: Target,
    private readonly log: UpstreamLog,
    private readonly holdBody = false,
  ) {}

  /**
   * The client went away: the call is aborted and its log part closed now, since workerd may drop
   * the rest of the request's work at its next `await` (so no `finally` would run).
   */
  abort(): void {
    this.aborted = true
    this.finished()
    this.log.error = 'aborted'
    this.disarm()
    this.controller.abort()
  }

  async send(method: string, path: string, search: string, headers: Headers, body: BodyInit | null): Promise<Response> {
    const { upstream, target, log } = this
    const runtime = upstream.runtime
    this.started = runtime.now()
    this.due = this.started + upstream.timeouts.headers
    this.timer = runtime.setTimeout(() => this.expire(), upstream.timeouts.headers)
    upstream.balancer.started(target)
    this.counted = true
    let response: Response
    try {
      if (this.aborted) this.controller.abort()
      response = await target.fetch(
        new Request(target.urlFor(path, search), {
          method,
          headers,
          body: method === 'GET' || method === 'HEAD' ? null : body,
          redirect: 'manual',
          signal: this.controller.signal,
        }),
      )
      if (isInterim(response)) {
        const final = await finalAfterInterim(response, method)
        if (!final) throw invalidResponse(response, log)
        response = final
      }
    } catch (err) {
      this.finished()
      this.disarm()
      if (err instanceof GatewayError) throw err
      throw fetchError(err, this.expired, this.aborted, log)
    }
    this.finished()
    if (!validFinalStatus(response)) {
      this.disarm()
      throw invalidResponse(response, log)
    }
    log.status = response.status
    if (response.status === 101 && response.webSocket) return this.disarm(), response
    return this.relay(response)
  }

  /** The client's copy of the response: headers copied once and stripped, the body read whole or streamed. */
  private async relay(res: Response): Promise<Response> {
    const init = { status: res.status, statusText: res.statusText, headers: res.headers }
    let out: Response
    if (!res.body) {
      this.disarm()
      out = new Response(null, init)
    } else if (Number(res.headers.get('content-length') ?? NaN) <= READ_WHOLE_UP_TO) {
      const bytes = await this.readWhole(res)
      out = new Response(bytes, init)
      if (this.holdBody) withHeldBody(out, bytes)
    } else {
      this.disarm()
      out = new Response(withIdleTimeout(res.body, this.upstream.timeouts.idle, this.upstream.runtime), init)
    }
    stripHopByHop(out.headers)
    return out
  }

  /** The small body, under the same timer: aborting the fetch's signal errors the body being read. */
  private async readWhole(res: Response): Promise<ArrayBuffer> {
    const runtime = this.upstream.runtime
    const idle = this.upstream.timeouts.idle
    this.bodyDue = runtime.now() + idle
    if (this.bodyDue < this.due) {
      this.disarm()
      this.due = this.bodyDue
      this.timer = runtime.setTimeout(() => this.expire(), idle)
    }
    try {
      return await res.arrayBuffer()
    } catch (err) {
      res.body?.cancel(err).catch(() => {})
      throw bodyReadError(err, this.expired, this.log)
    } finally {
      this.disarm()
    }
  }

  private expire(): void {
    this.timer = undefined
    const runtime = this.upstream.runtime
    const now = runtime.now()
    // Headers arrived and the body is still within its idle time: wait for the rest of it.
    if (this.bodyDue > now) {
      this.due = this.bodyDue
      this.timer = runtime.setTimeout(() => this.expire(), this.bodyDue - now)
      return
    }
    this.expired = true
    this.controller.abort()
  }

  private disarm(): void {
    if (this.timer === undefined) return
    this.upstream.runtime.clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Once: the in-flight count given back and the time to headers logged. */
  private finished(): void {
    if (!this.counted) return
    this.counted = false
    this.upstream.balancer.finished(this.target)
    this.log.durationMs = this.upstream.runtime.now() - this.started
  }
}

/**
 * The `proxy` action of a route with policies whose proxying is plain (`plainTarget`, no rewrite,
 * split, mirror, WebSocket, hedge or deadline): the draft the policies left, sent through
 * `PassThroughCall` rather than the general `proxyToUpstream` -> `callUpstream` -> `tryTarget`,
 * which for such an upstream do the same with more timers, promises and copies. A draft with
 * `beforeSend` hooks (a signing policy) takes the general path, which runs them.
 */
export function passThroughAction(upstream: CompiledUpstream, target: Target, stripPrefix: string | undefined): Handler<AppEnv> {
  const general = (c: Context<AppEnv>, path: string) => proxyToUpstream(c, upstream, { path, websocket: false })
  return async function passThrough(c) {
    const draft = c.get('upstreamRequest')
    const path = stripPrefix !== undefined ? stripPathPrefix(draft.path, stripPrefix) : draft.path
    if (draft.beforeSend?.length) return general(c, path)
    const log: UpstreamLog = { name: upstream.name, target: target.label, tries: 1 }
    c.get('log').upstream = log
    const call = new PassThroughCall(upstream, target, log, true)
    if (c.req.raw.signal.aborted) call.abort()
    // The request's one abort listener (the request context's) calls this hook: the call is aborted
    // there, with no listener of its own, until the answer is in (then the hook is as it was).
    const before = c.get('onClientGone')
    c.set('onClientGone', () => {
      call.abort()
      before?.()
    })
    try {
      const body = draft.body !== undefined ? draft.body : c.req.raw.body
      return await call.send(draft.method, path, draft.search, draft.headers, body instanceof ArrayBuffer ? body.slice(0) : body)
    } finally {
      c.set('onClientGone', before)
    }
  }
}
