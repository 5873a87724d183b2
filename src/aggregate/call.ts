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
import { compileJsonTemplate, compileTemplate, encodeForPath, checkHeaderValue, type JsonTemplate, type Template } from '../template/template'
import { callUpstream } from '../upstream/client'
import { upstreamWorstMs } from '../upstream/checks'
import type { CompiledUpstream } from '../upstream/upstream'
import type { HedgeConfig } from '../upstream/hedge'
import { BodyError, decodeBody, readBytes } from './body'
import { compileCallCache, type CallCacheContext, type Keep } from './cache'
import { isRequestRoot } from './plan'
import type { AggregateCallConfig } from './schema'
import { compileShape, type Shaper } from './shape'
import { callCacheability, type CallCacheability } from './cacheability'
import { callHeaders, compileForward, type CallHeaderSources, type HeaderSource } from './forward'
import { keepErrorAnswer, type ErrorKeeping, type KeptError } from './error-answer'
import type { Runtime, WaitUntilTarget } from '../core/runtime'
import type { UpstreamRequest } from '../core/context'

/**
 * What later templates read of a finished call: `{user.status}`, `{user.headers.etag}`,
 * `{user.body.id}`; and its say in whether the merged response may be cached (not a template member).
 */
export type CallResult = { status: number; headers: Headers; body: unknown; cacheability?: CallCacheability }

export type FailureKind =
  | 'timeout'
  | 'status'
  | 'unreachable'
  | 'unavailable'
  | 'too-large'
  | 'not-json'
  | 'too-deep'
  | 'skipped'
  | 'missing-input'
  | 'invalid-input'

/**
 * One failed call, as reported in the response's `errors` member. `retryAfter` (seconds): when an
 * `unavailable` upstream (no healthy target, or its circuit open) may take calls again. `input`:
 * the reference (`user.body.id`, never its value) a `missing-input` call found empty, or whose
 * value an `invalid-input` call could not send (`.` or `..` in its path, a header value outside
 * visible ASCII). `body`, `bodyTruncated`: an excerpt of an error answer (`errorDetails`); `reply`:
 * the error answer to pass through (`errors: "passthrough"`), never listed.
 */
export type CallFailure = { call: string; error: FailureKind; status?: number; after?: string; retryAfter?: number; input?: string } & KeptError

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

/**
 * A call's part of the request's log line (`calls`): `outcome` is `ok` or what `errors` reports
 * (`error` says more: `queued` for a call that never left the queue, `body-interrupted` for an
 * answer whose body broke off); `durationMs` runs from the call's start to its body's end.
 */
export type CallLog = UpstreamLog & {
  call: string
  outcome?: 'ok' | FailureKind
  cache?: 'HIT' | 'MISS' | 'BYPASS'
  /** Why a cached call skipped the cache (`credentials`), or why its answer was not stored (`private`, `set-cookie`). */
  cacheDetail?: string
}

/** What a call gets from the run it belongs to. */
export type CallRun = {
  /** The request's headers for calls, by who set them: each call picks the client's it forwards. */
  baseHeaders: CallHeaderSources
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

/**
 * The time a call runs under when it sets no `timeout`: what a proxy route would wait for this
 * upstream, every try (1 + `retries.attempts`) at `timeouts.headers` plus backoff, capped by
 * `timeouts.total`. So a call retries and fails over as a proxy route does.
 */
export function defaultCallTimeout(upstream: CompiledUpstream): number {
  return upstreamWorstMs({ timeouts: upstream.timeouts, retries: upstream.retry?.config })
}

/** What a compiled call's steps read: its name, upstream and limits. */
type CallSpec = {
  name: string
  upstream: CompiledUpstream
  raw: boolean
  maxBytes: number
  /** The call's own timeout, for headers and body together. */
  timeoutMs: number
  /** Each try waits for headers as long as a proxy route would, so a hung target leaves time to retry. */
  tryTimeoutMs: number
  /** What to keep of an error answer (`errors: "passthrough"`, `errorDetails`). */
  keepErrors: ErrorKeeping
  hedge: HedgeConfig | undefined
}

function failCall(name: string, error: FailureKind, status?: number): never {
  throw new CallFailed({ call: name, error, ...(status !== undefined && { status }) })
}

export function compileCall(
  config: AggregateCallConfig,
  index: number,
  deps: number[],
  upstream: CompiledUpstream,
  defaultMaxBytes: number,
  errors: { passthrough: boolean; details: boolean } = { passthrough: false, details: false },
): CompiledCall {
  const { name, raw } = config
  const maxBytes = config.maxBodyBytes ?? defaultMaxBytes
  const keepErrors: ErrorKeeping = { passthroughBytes: errors.passthrough && config.required ? maxBytes : undefined, details: errors.details }
  const spec: CallSpec = { name, upstream, raw, maxBytes, timeoutMs: config.timeout ?? defaultCallTimeout(upstream), tryTimeoutMs: upstream.timeouts.headers, keepErrors, hedge: config.hedge }
  const render = compileCallRequest(config)
  const openCache = config.cache && config.method === 'GET' ? compileCallCache(config.cache, `${upstream.name}:${name}:${raw}:${maxBytes}`) : undefined

  async function execute(scope: Record<string, unknown>, run: CallRun): Promise<CallResult> {
    const started = run.runtime.now()
    run.log.name = upstream.name
    let clock: CallClock | undefined
    try {
      const { request, from } = render(scope, run)
      clock = startCallClock(spec, run)
      const cached = openCache && (await openCache(scope, request, run.cache))
      if (cached) {
        run.log.cache = cached.hit ? 'HIT' : cached.keep ? 'MISS' : 'BYPASS'
        run.log.cacheDetail = cached.detail
      }
      const response = cached?.hit ?? (await fetchAnswer(spec, request, run, clock))
      const result = await readAnswer(spec, response, run, clock, cached?.keep)
      const facts = { status: result.status, headers: result.headers, sent: request.headers, from, defaultTtl: run.cache.defaultTtl, cap: config.cache?.ttl, remaining: cached?.remaining }
      run.log.outcome = 'ok'
      return { ...result, cacheability: callCacheability({ ...facts, now: run.runtime.now() }) }
    } catch (err) {
      // A request the gateway refuses (a client's `..` in the path) is logged as this call's input.
      run.log.outcome = err instanceof CallFailed ? err.failure.error : 'invalid-input'
      throw err
    } finally {
      clock?.stop()
      // The whole call, body included (the upstream log's own duration stops at the headers).
      run.log.durationMs = run.runtime.now() - started
    }
  }

  return { name, index, required: config.required, output: config.output, deps, shape: compileShape(config), execute }
}

/**
 * Compiles the call's request templates; what it returns renders the request for one run. An
 * earlier call's value missing from the path or query would address something else
 * (`/orders/{user.body.id}` -> `/orders/`, maybe "all orders"): the call is then not sent.
 */
function compileCallRequest(config: AggregateCallConfig): (scope: Record<string, unknown>, run: CallRun) => { request: UpstreamRequest; from: Map<string, HeaderSource> } {
  const path = compileTemplate(config.path)
  const query = Object.entries(config.query ?? {}).map(([key, source]) => [key, compileTemplate(source)] as [string, Template])
  const headers = Object.entries(config.headers ?? {}).map(([key, source]) => [key, compileTemplate(source)] as [string, Template])
  const forward = compileForward(config.forwardHeaders ?? [])
  // A header template without references is the same on every request: a `Vary` on it varies nothing.
  const ownHeaders = headers.map(([key, template]) => [key.toLowerCase(), template.refs.length === 0] as const)
  const body: JsonTemplate | undefined = config.body !== undefined ? compileJsonTemplate(config.body) : undefined
  const invalid = (input: string): never => {
    throw new CallFailed({ call: config.name, error: 'invalid-input', input })
  }
  // `.` or `..` from the client is refused as a proxy route refuses it (400); from an earlier
  // call's answer it is that answer's fault, and this call can't be sent.
  const pathValue = (value: string, ref: ParsedPath): string => {
    try {
      return encodeForPath(value, ref)
    } catch (err) {
      if (isRequestRoot(pathRoot(ref))) throw err
      return invalid(ref.source)
    }
  }
  const headerValue = (name: string, template: Template, scope: Record<string, unknown>): string => {
    try {
      return checkHeaderValue(template.render(scope))
    } catch {
      return invalid(template.refs.map((ref) => ref.source).join(', ') || `headers.${name}`)
    }
  }
  return (scope, run) => {
    const missing = (ref: ParsedPath) => {
      if (isRequestRoot(pathRoot(ref))) return
      run.log.error = 'missing-input'
      throw new CallFailed({ call: config.name, error: 'missing-input', input: ref.source })
    }
    let target = path.render(scope, pathValue, missing)
    if (!target.startsWith('/')) target = `/${target}`
    const params = new URLSearchParams()
    for (const [key, template] of query) {
      const value = template.render(scope, undefined, missing)
      if (value !== '') params.append(key, value)
    }
    const { headers: out, from } = callHeaders(run.baseHeaders, forward)
    for (const [key, template] of headers) out.set(key, headerValue(key, template, scope))
    for (const [name, fixed] of ownHeaders) fixed ? from.set(name, 'fixed') : from.delete(name)
    let payload: string | null = null
    if (body) {
      payload = JSON.stringify(body.render(scope) ?? null)
      out.set('Content-Type', 'application/json')
      from.set('content-type', 'fixed')
    }
    return { request: { method: config.method, path: target, search: params.size > 0 ? `?${params}` : '', headers: out, body: payload, beforeSend: run.beforeSend }, from }
  }
}

/** One call's time: its own timeout (headers and body) capped by the route's deadline, and the run's abort, on one signal. */
type CallClock = {
  signal: AbortSignal
  /** When the call must be done: its own timeout from its start, or the route's deadline if nearer. */
  end: number
  /** Fails a call that was given up: `timeout` when a clock (its own or the run's) ran out, else `unreachable`. */
  gaveUp(): never
  stop(): void
}

function startCallClock(spec: CallSpec, run: CallRun): CallClock {
  const runtime = run.runtime
  const started = runtime.now()
  const controller = new AbortController()
  let timedOut = false
  const timer = runtime.setTimeout(() => {
    timedOut = true
    controller.abort(new Error('call timeout'))
  }, Math.max(0, Math.min(spec.timeoutMs, run.deadline - runtime.now())))
  const onRunAbort = () => controller.abort(run.signal.reason)
  if (run.signal.aborted) onRunAbort()
  run.signal.addEventListener('abort', onRunAbort)
  return {
    signal: controller.signal,
    end: Math.min(started + spec.timeoutMs, run.deadline),
    gaveUp() {
      if (!timedOut && !run.signal.aborted) return failCall(spec.name, 'unreachable')
      run.log.error = 'timeout'
      return failCall(spec.name, 'timeout')
    },
    stop() {
      runtime.clearTimeout(timer)
      run.signal.removeEventListener('abort', onRunAbort)
    },
  }
}

/** Sends the call through `callUpstream`; a 2xx answer, or the call fails with what went wrong. */
async function fetchAnswer(spec: CallSpec, request: UpstreamRequest, run: CallRun, clock: CallClock): Promise<Response> {
  const { upstream } = spec
  let response: Response
  try {
    const timeoutMs = Math.max(1, Math.min(spec.tryTimeoutMs, clock.end - run.runtime.now()))
    response = await callUpstream(upstream, request, { timeoutMs, signal: clock.signal, deadline: clock.end, affinityKey: run.affinity?.(upstream), hedge: spec.hedge }, run.log)
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'ERR_UPSTREAM_TIMEOUT') failCall(spec.name, 'timeout')
    // No target may be tried (breaker open, none healthy): the upstream was not touched.
    if (err instanceof GatewayError && (err.code === 'ERR_CIRCUIT_OPEN' || err.code === 'ERR_UPSTREAM_UNAVAILABLE') && !clock.signal.aborted) {
      const retryAfter = Number(err.headers['Retry-After'])
      throw new CallFailed({ call: spec.name, error: 'unavailable', ...(retryAfter > 0 && { retryAfter }) })
    }
    return clock.gaveUp()
  }
  if (response.status < 200 || response.status > 299) {
    const kept = await keepErrorAnswer(response, spec.keepErrors, clock.signal)
    await response.body?.cancel().catch(() => {})
    throw new CallFailed({ call: spec.name, error: 'status', status: response.status, ...kept })
  }
  return response
}

/** Reads and decodes the answer's body under the size cap, and stores an origin answer when the call is cached. */
async function readAnswer(spec: CallSpec, response: Response, run: CallRun, clock: CallClock, keep: Keep | undefined): Promise<CallResult> {
  try {
    const bytes = await readBytes(response, { maxBytes: spec.maxBytes, raw: spec.raw, signal: clock.signal })
    const value = decodeBody(bytes, spec.raw)
    // Only an origin answer that read and decoded is kept: a broken one must not be served for a ttl.
    const kept = keep?.(response, bytes)
    if (typeof kept === 'string') run.log.cacheDetail = kept
    else if (kept) run.runtime.waitUntil(run.request, kept)
    return { status: response.status, headers: response.headers, body: value }
  } catch (err) {
    if (err instanceof BodyError) {
      run.log.error = err.problem
      failCall(spec.name, err.problem)
    }
    // The headers came (`status` is logged), then the body broke off or ran out of time.
    run.log.error = 'body-interrupted'
    return clock.gaveUp()
  }
}
