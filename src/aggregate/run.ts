/**
 * @module
 * The executor of an aggregation (lura's `merging.go` is the model): every call starts the moment
 * the calls it reads have answered; at most `maxInFlight` are in flight at once (the rest queue in
 * order; a call holds its slot only while its own request and body are in progress, never while
 * waiting for inputs, so a queue can't deadlock); the route's deadline bounds the whole run.
 *
 * A required call's failure ends the run at once (what is still in flight is aborted). An optional
 * call's failure is recorded, and the calls that read it are skipped and recorded too. A call still
 * queued when the deadline passes fails as `timeout` (logged as `queued`). A request the gateway
 * refuses (a client's `..` placed in a call's path: 400, as a proxy route answers) ends the run too.
 *
 * Every call that the run reaches gets its entry in the log line, with its outcome.
 */
import { GatewayError } from '../core/errors'
import type { CompiledUpstream } from '../upstream/upstream'
import type { CallCacheContext } from './cache'
import type { Runtime, WaitUntilTarget } from '../core/runtime'
import { CallFailed, type CallFailure, type CallLog, type CallResult, type CallRun, type CompiledCall } from './call'

export type RunOptions = {
  scope: Record<string, unknown>
  baseHeaders: CallRun['baseHeaders']
  maxInFlight: number
  /** Absolute time (ms) by which everything must be done. */
  deadline: number
  /** The client's request signal: when it goes away, so does the run. */
  clientSignal?: AbortSignal
  logs: (CallLog)[]
  /** The gateway's runtime (clock, timers, `waitUntil`) and the request its background work belongs to. */
  runtime: Runtime
  request: WaitUntilTarget
  cache: CallCacheContext
  /** The client's key for an upstream balanced by `hash` (its `hashOn`: consumer, IP, header, cookie). */
  affinity?: ((upstream: CompiledUpstream) => string | undefined) | undefined
  /** Run before each try of each call (`origin-auth` signs there). */
  beforeSend?: CallRun['beforeSend']
}

export type RunOutcome = {
  results: Map<string, CallResult>
  /** Failed or skipped optional calls, in config order. */
  errors: CallFailure[]
  /** The required call whose failure fails the request. */
  fatal?: CallFailure
  /** The client's request is refused (its value can't be sent): the request fails with this error. */
  refused?: GatewayError
}

/** A FIFO counting semaphore whose waiters leave the queue when the run is aborted. */
function slots(max: number, signal: AbortSignal) {
  let free = max
  const queue: (() => void)[] = []
  signal.addEventListener('abort', () => queue.splice(0).forEach((wake) => wake()))
  return {
    async acquire(): Promise<boolean> {
      if (signal.aborted) return false
      if (free > 0) {
        free--
        return true
      }
      await new Promise<void>((wake) => queue.push(wake))
      // Woken by a release (which handed its slot over) or by the abort (no slot).
      return !signal.aborted
    },
    release(): void {
      const next = queue.shift()
      if (next) next()
      else free++
    },
  }
}

/** One run under way: its abort, its slots, what has answered and what has failed. */
type Run = {
  signal: AbortSignal
  limiter: ReturnType<typeof slots>
  results: Map<string, CallResult>
  failures: Map<number, CallFailure>
  fatal: CallFailure | undefined
  refused: GatewayError | undefined
  /** Resolves when a required call fails: the run ends then, without waiting for the rest. */
  fatalReached: Promise<void>
  /** Records a failed or skipped call; a required one's failure aborts what is still in flight. */
  record(call: CompiledCall, failure: CallFailure): void
  /** Ends the run with the request refused. */
  refuse(error: GatewayError): void
  /** Clears the deadline and the client's listener; aborts what is still running (after a required failure). */
  finish(): void
}

export async function runCalls(calls: readonly CompiledCall[], order: readonly number[], options: RunOptions): Promise<RunOutcome> {
  const run = startRun(options)
  const done: Promise<boolean>[] = new Array(calls.length)
  for (const index of order) done[index] = runCall(calls[index]!, calls, done, run, options)
  try {
    await Promise.race([Promise.all(done), run.fatalReached])
  } finally {
    run.finish()
  }
  const errors = [...run.failures.entries()].sort(([a], [b]) => a - b).map(([, failure]) => failure)
  return { results: run.results, errors, ...(run.fatal && { fatal: run.fatal }), ...(run.refused && { refused: run.refused }) }
}

/** Starts the run's clock: aborted at the route's deadline, when the client goes away, or on a required call's failure. */
function startRun(options: RunOptions): Run {
  const controller = new AbortController()
  const runtime = options.runtime
  const deadlineTimer = runtime.setTimeout(() => controller.abort(new Error('deadline')), Math.max(0, options.deadline - runtime.now()))
  const onClientAbort = () => controller.abort(new Error('client gone'))
  options.clientSignal?.addEventListener('abort', onClientAbort)
  let onFatal!: () => void
  const run: Run = {
    signal: controller.signal,
    limiter: slots(options.maxInFlight, controller.signal),
    results: new Map(),
    failures: new Map(),
    fatal: undefined,
    refused: undefined,
    fatalReached: new Promise<void>((resolve) => (onFatal = resolve)),
    record(call, failure) {
      run.failures.set(call.index, failure)
      if (call.required && !run.fatal) {
        run.fatal = failure
        controller.abort(new Error('a required call failed'))
        onFatal()
      }
    },
    refuse(error) {
      if (run.refused || run.fatal) return
      run.refused = error
      controller.abort(new Error('the request was refused'))
      onFatal()
    },
    finish() {
      runtime.clearTimeout(deadlineTimer)
      options.clientSignal?.removeEventListener('abort', onClientAbort)
      // Settles whatever is still running (after a required failure) without waiting for it.
      if (!controller.signal.aborted) controller.abort(new Error('run finished'))
    },
  }
  return run
}

/**
 * Runs one call once the calls it reads have answered (skipped when one failed), within a slot;
 * true when it answered. Never rejects: anything but a `CallFailed` is a bug, and must still not
 * leave the run hanging.
 */
async function runCall(call: CompiledCall, calls: readonly CompiledCall[], done: Promise<boolean>[], run: Run, options: RunOptions): Promise<boolean> {
  const inputs = await Promise.all(call.deps.map((d) => done[d]!))
  const failedInput = call.deps.find((_, i) => !inputs[i])
  if (run.signal.aborted && (run.fatal || run.refused)) return false
  const log: CallLog = { call: call.name, name: '' }
  options.logs.push(log)
  if (failedInput !== undefined) {
    log.outcome = 'skipped'
    run.record(call, { call: call.name, error: 'skipped', after: calls[failedInput]!.name })
    return false
  }
  const queuedAt = options.runtime.now()
  if (!(await run.limiter.acquire())) {
    if (run.fatal || run.refused) {
      Object.assign(log, { outcome: 'skipped', after: run.fatal?.call })
      return false
    }
    // Never sent: the deadline passed (or the client left) while the call waited for a slot.
    Object.assign(log, { outcome: 'timeout', error: 'queued', durationMs: options.runtime.now() - queuedAt })
    run.record(call, { call: call.name, error: 'timeout' })
    return false
  }
  try {
    const { baseHeaders, deadline, runtime, request, cache, affinity, beforeSend } = options
    const result = await call.execute(options.scope, { baseHeaders, signal: run.signal, deadline, log, runtime, request, cache, affinity, beforeSend })
    run.results.set(call.name, result)
    options.scope[call.name] = result
    return true
  } catch (err) {
    if (err instanceof GatewayError) run.refuse(err)
    else run.record(call, err instanceof CallFailed ? err.failure : { call: call.name, error: 'unreachable' })
    return false
  } finally {
    run.limiter.release()
  }
}
