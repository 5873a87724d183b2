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

/** Requests and retries over a sliding window of 10 buckets, per isolate. */
export class RetryBudget {
  private readonly requests = new Uint32Array(10)
  private readonly retries = new Uint32Array(10)
  private bucket = 0
  private bucketStart = 0
  private readonly bucketMs: number

  constructor(
    private readonly config: { percent: number; minRetries: number; window: number },
    private readonly runtime: Runtime = systemRuntime,
  ) {
    this.bucketMs = Math.max(1, Math.ceil(config.window / 10))
  }

  /** Counts a request (a first try). */
  request(): void {
    this.roll()
    this.requests[this.bucket]!++
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    this.roll()
    let requests = 0
    let retries = 0
    for (let i = 0; i < 10; i++) (requests += this.requests[i]!), (retries += this.retries[i]!)
    if (retries >= this.config.minRetries + (requests * this.config.percent) / 100) return false
    this.retries[this.bucket]!++
    return true
  }

  private roll(): void {
    const now = this.runtime.now()
    if (this.bucketStart === 0) this.bucketStart = now
    const steps = Math.floor((now - this.bucketStart) / this.bucketMs)
    if (steps <= 0) return
    for (let i = 0; i < Math.min(steps, 10); i++) {
      this.bucket = (this.bucket + 1) % 10
      this.requests[this.bucket] = 0
      this.retries[this.bucket] = 0
    }
    this.bucketStart += steps * this.bucketMs
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
export async function bufferBody(
  body: ReadableStream | ArrayBuffer | string | null,
  headers: Headers,
  limit: number,
): Promise<ArrayBuffer | string | null | undefined> {
  if (body === null || typeof body === 'string' || body instanceof ArrayBuffer) return body
  const length = Number(headers.get('content-length') ?? NaN)
  if (!Number.isFinite(length) || length > limit) return undefined
  return new Response(body).arrayBuffer()
}
