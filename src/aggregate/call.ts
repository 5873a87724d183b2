/**
 * @module
 * One backend call of an aggregation: its request rendered from the templates (request data and
 * earlier calls' results), sent through `callUpstream` (the same machinery as proxy routes), and
 * its body read under the size cap. Every way it can fail becomes a `CallFailure`, which names the
 * call and what went wrong but never the upstream's address (that goes to the log).
 */
import { GatewayError } from '../core/errors'
import type { UpstreamLog } from '../core/logging'
import { pathRoot, type ParsedPath } from '../template/path'
import { compileJsonTemplate, compileTemplate, encodeForPath, encodeHeaderValue, type JsonTemplate, type Template } from '../template/template'
import { callUpstream } from '../upstream/client'
import { upstreamWorstMs } from '../upstream/checks'
import type { CompiledUpstream } from '../upstream/upstream'
import { BodyError, decodeBody, readBytes } from './body'
import { compileCallCache, type CallCacheContext } from './cache'
import { isRequestRoot } from './plan'
import type { AggregateCallConfig } from './schema'
import { compileShape, type Shaper } from './shape'
import type { Runtime, WaitUntilTarget } from '../core/runtime'
import type { UpstreamRequest } from '../core/context'

/** What later templates read of a finished call: `{user.status}`, `{user.headers.etag}`, `{user.body.id}`. */
export type CallResult = { status: number; headers: Headers; body: unknown }

export type FailureKind = 'timeout' | 'status' | 'unreachable' | 'unavailable' | 'too-large' | 'not-json' | 'skipped' | 'missing-input'

/**
 * One failed call, as reported in the response's `errors` member. `retryAfter` (seconds): when an
 * `unavailable` upstream (no healthy target, or its circuit open) may take calls again. `input`:
 * the reference (`user.body.id`, never its value) a `missing-input` call found empty.
 */
export type CallFailure = { call: string; error: FailureKind; status?: number; after?: string; retryAfter?: number; input?: string }

export class CallFailed extends Error {
  constructor(readonly failure: CallFailure) {
    super(`call "${failure.call}" failed: ${failure.error}`)
    this.name = 'CallFailed'
  }
}

export type CompiledCall = {
  name: string
  index: number
  required: boolean
  output: boolean
  /** Indexes of the calls this one reads. */
  deps: number[]
  shape: Shaper
  execute(scope: Record<string, unknown>, run: CallRun): Promise<CallResult>
}

/** A call's part of the request's log line (`calls`). */
export type CallLog = UpstreamLog & {
  call: string
  cache?: 'HIT' | 'MISS' | 'BYPASS'
  /** Why a cached call skipped the cache (`credentials`), or why its answer was not stored (`private`, `set-cookie`). */
  cacheDetail?: string
}

/** What a call gets from the run it belongs to. */
export type CallRun = {
  baseHeaders: Headers
  /** Aborted when the route's deadline passes or the run is given up. */
  signal: AbortSignal
  deadline: number
  log: CallLog
  /** The gateway's runtime: its clock and timers, and `waitUntil` for work (a cache store) that outlives the response. */
  runtime: Runtime
  /** The client's request, which background work belongs to. */
  request: WaitUntilTarget
  cache: CallCacheContext
  affinity?: ((upstream: CompiledUpstream) => string | undefined) | undefined
  /** The route's `beforeSend` hooks, run before each try of the call (`origin-auth` signs there). */
  beforeSend?: UpstreamRequest['beforeSend']
}

/** Conditional and body headers of the client's request mean nothing to a call. */
const CLIENT_ONLY_HEADERS = ['content-length', 'content-type', 'content-encoding', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range', 'expect']

export function callRequestHeaders(draft: Headers, requestId: { header: string; value: string } | undefined): Headers {
  const headers = new Headers(draft)
  for (const name of CLIENT_ONLY_HEADERS) headers.delete(name)
  if (requestId) headers.set(requestId.header, requestId.value)
  return headers
}

/**
 * The time a call runs under when it sets no `timeout`: what a proxy route would wait for this
 * upstream, every try (1 + `retries.attempts`) at `timeouts.headers` plus backoff, capped by
 * `timeouts.total`. So a call retries and fails over as a proxy route does.
 */
export function defaultCallTimeout(upstream: CompiledUpstream): number {
  return upstreamWorstMs({ timeouts: upstream.timeouts, retries: upstream.retry?.config })
}

export function compileCall(config: AggregateCallConfig, index: number, deps: number[], upstream: CompiledUpstream, defaultMaxBytes: number): CompiledCall {
  const name = config.name
  const path = compileTemplate(config.path)
  const query = Object.entries(config.query ?? {}).map(([key, source]) => [key, compileTemplate(source)] as [string, Template])
  const headers = Object.entries(config.headers ?? {}).map(([key, source]) => [key, compileTemplate(source)] as [string, Template])
  const body: JsonTemplate | undefined = config.body !== undefined ? compileJsonTemplate(config.body) : undefined
  const timeoutMs = config.timeout ?? defaultCallTimeout(upstream)
  // Each try waits for headers as long as a proxy route would, so a hung target leaves time to retry.
  const tryTimeoutMs = upstream.timeouts.headers
  const maxBytes = config.maxBodyBytes ?? defaultMaxBytes
  const { method, raw } = config
  const openCache = config.cache && method === 'GET' ? compileCallCache(config.cache, `${upstream.name}:${name}:${raw}:${maxBytes}`) : undefined
  const fail = (error: FailureKind, status?: number): never => {
    throw new CallFailed({ call: name, error, ...(status !== undefined && { status }) })
  }

  async function execute(scope: Record<string, unknown>, run: CallRun): Promise<CallResult> {
    // An earlier call's value missing from the path or query would address something else
    // (`/orders/{user.body.id}` -> `/orders/`, maybe "all orders"): the call is not sent.
    const missing = (ref: ParsedPath) => {
      if (isRequestRoot(pathRoot(ref))) return
      run.log.error = 'missing-input'
      throw new CallFailed({ call: name, error: 'missing-input', input: ref.source })
    }
    let target = path.render(scope, encodeForPath, missing)
    if (!target.startsWith('/')) target = `/${target}`
    const params = new URLSearchParams()
    for (const [key, template] of query) {
      const value = template.render(scope, undefined, missing)
      if (value !== '') params.append(key, value)
    }
    const search = params.size > 0 ? `?${params}` : ''
    const out = new Headers(run.baseHeaders)
    for (const [key, template] of headers) out.set(key, encodeHeaderValue(template.render(scope)))
    let payload: string | null = null
    if (body) {
      payload = JSON.stringify(body.render(scope) ?? null)
      out.set('Content-Type', 'application/json')
    }

    // The call's own timeout covers headers and body; the route's deadline caps it.
    const runtime = run.runtime
    const started = runtime.now()
    const controller = new AbortController()
    let timedOut = false
    const timer = runtime.setTimeout(() => {
      timedOut = true
      controller.abort(new Error('call timeout'))
    }, Math.max(0, Math.min(timeoutMs, run.deadline - runtime.now())))
    const onRunAbort = () => controller.abort(run.signal.reason)
    if (run.signal.aborted) onRunAbort()
    run.signal.addEventListener('abort', onRunAbort)
    const gaveUp = () => {
      if (!timedOut && !run.signal.aborted) return fail('unreachable')
      run.log.error = 'timeout'
      return fail('timeout')
    }
    try {
      const cached = openCache && (await openCache(scope, { path: target, search, headers: out }, run.cache))
      if (cached) {
        run.log.cache = cached.hit ? 'HIT' : cached.keep ? 'MISS' : 'BYPASS'
        run.log.cacheDetail = cached.detail
      }
      let response = cached?.hit
      if (!response) {
        const end = Math.min(started + timeoutMs, run.deadline)
        try {
          response = await callUpstream(
            upstream,
            { method, path: target, search, headers: out, body: payload, beforeSend: run.beforeSend },
            { timeoutMs: Math.max(1, Math.min(tryTimeoutMs, end - runtime.now())), signal: controller.signal, deadline: end, affinityKey: run.affinity?.(upstream) },
            run.log,
          )
        } catch (err) {
          if (err instanceof GatewayError && err.code === 'ERR_UPSTREAM_TIMEOUT') fail('timeout')
          // No target may be tried (breaker open, none healthy): the upstream was not touched.
          if (err instanceof GatewayError && (err.code === 'ERR_CIRCUIT_OPEN' || err.code === 'ERR_UPSTREAM_UNAVAILABLE') && !controller.signal.aborted) {
            const retryAfter = Number(err.headers['Retry-After'])
            throw new CallFailed({ call: name, error: 'unavailable', ...(retryAfter > 0 && { retryAfter }) })
          }
          return gaveUp()
        }
        if (response.status < 200 || response.status > 299) {
          await response.body?.cancel().catch(() => {})
          fail('status', response.status)
        }
      }
      try {
        const bytes = await readBytes(response, { maxBytes, raw, signal: controller.signal })
        const value = decodeBody(bytes, raw)
        // Only an origin answer that read and decoded is kept: a broken one must not be served for a ttl.
        const kept = cached?.keep?.(response, bytes)
        if (typeof kept === 'string') run.log.cacheDetail = kept
        else if (kept) runtime.waitUntil(run.request, kept)
        return { status: response.status, headers: response.headers, body: value }
      } catch (err) {
        if (err instanceof BodyError) {
          run.log.error = err.problem
          fail(err.problem)
        }
        return gaveUp()
      }
    } finally {
      runtime.clearTimeout(timer)
      run.signal.removeEventListener('abort', onRunAbort)
    }
  }

  return { name, index, required: config.required, output: config.output, deps, shape: compileShape(config), execute }
}
