/**
 * @module
 * When and how a failed try is retried:
 *
 * - Only methods listed (idempotent ones by default: a POST is never retried unless configured).
 * - Only on connection errors, timeouts and the configured statuses (502, 503, 504 by default).
 * - At most `attempts` retries, each after an exponential backoff with full jitter:
 *   a random wait in [0, min(max, base * 2^(n-1))) before retry n (AWS's "full jitter").
 * - Within a budget, per isolate: over `window`, retries may add at most `percent` of the requests
 *   (plus `minRetries`, so a quiet route can still retry). When an upstream is down, every request
 *   would otherwise multiply into 1 + attempts: the budget keeps a storm from finishing it off.
 * - A request body can only be sent twice if it was kept: it is buffered when it has a
 *   Content-Length of at most `bodyLimit` bytes; a bigger or unsized body streams through once and
 *   is not retried.
 * - The next try goes to another target when the pool has one (the caller excludes the last).
 */
import { systemRuntime, type Runtime } from '../core/runtime'
import { RollingWindow } from './rolling-window'
import type { UpstreamBody } from '../core/context'

export type RetryConfig = {
  attempts: number
  methods: string[]
  statuses: number[]
  onTimeout: boolean
  onConnectionError: boolean
  backoff: { base: number; max: number }
  budget: { percent: number; minRetries: number; window: number }
  bodyLimit: number
}

/** What a try ended with, as far as retrying is concerned. */
export type TryResult = { kind: 'response'; status: number } | { kind: 'timeout' } | { kind: 'unreachable' }

/** The wait before retry `n` (1-based): uniform in [0, min(max, base * 2^(n-1))). */
export function backoffDelay(retry: number, backoff: { base: number; max: number }, random: () => number = systemRuntime.random): number {
  const ceiling = Math.min(backoff.max, backoff.base * 2 ** Math.min(retry - 1, 30))
  return Math.floor(random() * ceiling)
}

/** Requests and retries over a rolling window, per isolate. */
export class RetryBudget {
  private readonly counts: RollingWindow<'requests' | 'retries'>

  constructor(
    private readonly config: { percent: number; minRetries: number; window: number },
    runtime: Runtime = systemRuntime,
  ) {
    this.counts = new RollingWindow(['requests', 'retries'], config.window, runtime)
  }

  /** Counts a request (a first try). */
  request(): void {
    this.counts.add('requests')
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    const allowed = this.config.minRetries + (this.counts.total('requests') * this.config.percent) / 100
    if (this.counts.total('retries') >= allowed) return false
    this.counts.add('retries')
    return true
  }
}

export type RetryPolicy = {
  config: RetryConfig
  budget: RetryBudget
  /** Whether requests with this method may be retried at all. */
  allowsMethod(method: string): boolean
  /** Whether a try that ended like this is worth another. */
  retriable(result: TryResult): boolean
}

export function createRetryPolicy(config: RetryConfig, runtime: Runtime = systemRuntime): RetryPolicy {
  const methods = new Set(config.methods)
  const statuses = new Set(config.statuses)
  return {
    config,
    budget: new RetryBudget(config.budget, runtime),
    allowsMethod: (method) => config.attempts > 0 && methods.has(method),
    retriable(result) {
      if (result.kind === 'response') return statuses.has(result.status)
      return result.kind === 'timeout' ? config.onTimeout : config.onConnectionError
    },
  }
}

/**
 * Makes a body replayable when it is small enough: reads it into memory when its Content-Length is
 * at most `limit`. Returns undefined when it must stream through once (too big, or unsized).
 */
export async function bufferBody(body: UpstreamBody, headers: Headers, limit: number): Promise<Exclude<UpstreamBody, ReadableStream> | undefined> {
  if (body === null || typeof body === 'string' || body instanceof ArrayBuffer) return body
  const length = Number(headers.get('content-length') ?? NaN)
  if (!Number.isFinite(length) || length > limit) return undefined
  return new Response(body).arrayBuffer()
}
