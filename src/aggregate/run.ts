/**
 * @module
 * The executor of an aggregation (lura's `merging.go` is the model): every call starts the moment
 * the calls it reads have answered; at most `maxInFlight` are in flight at once (the rest queue in
 * order; a call holds its slot only while its own request and body are in progress, never while
 * waiting for inputs, so a queue can't deadlock); the route's deadline bounds the whole run.
 *
 * A required call's failure ends the run at once (what is still in flight is aborted). An optional
 * call's failure is recorded, and the calls that read it are skipped and recorded too.
 */
import type { CompiledUpstream } from '../upstream/upstream'
import type { CallCacheContext } from './cache'
import type { Runtime, WaitUntilTarget } from '../core/runtime'
import { CallFailed, type CallFailure, type CallLog, type CallResult, type CallRun, type CompiledCall } from './call'

export type RunOptions = {
  scope: Record<string, unknown>
  baseHeaders: Headers
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

export async function runCalls(calls: readonly CompiledCall[], order: readonly number[], options: RunOptions): Promise<RunOutcome> {
  const controller = new AbortController()
  const signal = controller.signal
  const runtime = options.runtime
  const deadlineTimer = runtime.setTimeout(() => controller.abort(new Error('deadline')), Math.max(0, options.deadline - runtime.now()))
  const onClientAbort = () => controller.abort(new Error('client gone'))
  options.clientSignal?.addEventListener('abort', onClientAbort)
  const limiter = slots(options.maxInFlight, signal)
  const results = new Map<string, CallResult>()
  const failures = new Map<number, CallFailure>()
  let fatal: CallFailure | undefined
  let onFatal!: () => void
  const fatalReached = new Promise<void>((resolve) => (onFatal = resolve))

  const record = (call: CompiledCall, failure: CallFailure) => {
    failures.set(call.index, failure)
    if (call.required && !fatal) {
      fatal = failure
      controller.abort(new Error('a required call failed'))
      onFatal()
    }
  }

  const done: Promise<boolean>[] = new Array(calls.length)
  for (const index of order) {
    const call = calls[index]!
    done[index] = (async () => {
      const inputs = await Promise.all(call.deps.map((d) => done[d]!))
      const failedInput = call.deps.find((_, i) => !inputs[i])
      if (failedInput !== undefined) {
        record(call, { call: call.name, error: 'skipped', after: calls[failedInput]!.name })
        return false
      }
      if (!(await limiter.acquire())) {
        record(call, { call: call.name, error: 'timeout' })
        return false
      }
      const log = { call: call.name, name: '' }
      options.logs.push(log)
      try {
        const result = await call.execute(options.scope, { baseHeaders: options.baseHeaders, signal, deadline: options.deadline, log, runtime, request: options.request, cache: options.cache, affinity: options.affinity, beforeSend: options.beforeSend })
        results.set(call.name, result)
        options.scope[call.name] = result
        return true
      } catch (err) {
        // Anything but a CallFailed is a bug; it must still not leave the run hanging.
        record(call, err instanceof CallFailed ? err.failure : { call: call.name, error: 'unreachable' })
        return false
      } finally {
        limiter.release()
      }
    })()
  }

  try {
    await Promise.race([Promise.all(done), fatalReached])
  } finally {
    runtime.clearTimeout(deadlineTimer)
    options.clientSignal?.removeEventListener('abort', onClientAbort)
    // Settles whatever is still running (after a required failure) without waiting for it.
    if (!signal.aborted) controller.abort(new Error('run finished'))
  }
  const errors = [...failures.entries()].sort(([a], [b]) => a - b).map(([, failure]) => failure)
  return { results, errors, ...(fatal && { fatal }) }
}
