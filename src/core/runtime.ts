/**
 * @module
 * The runtime: the time, randomness, timers and `waitUntil` the gateway reads. One object, built
 * once and handed to `createGateway` (default: `systemRuntime`), reached on a request as
 * `c.get('runtime')`, and held by what the config compiles (upstreams, breakers, health). Tests
 * hand in a runtime whose clock they move and whose random source they fix, instead of sleeping
 * or hoping; real I/O (fetch, Durable Objects, KV) stays real.
 *
 * This is the one file that reads `Date.now()`, `Math.random()` and the global timers. Security
 * randomness (keys, signatures, nonces) is Web Crypto and stays so: it is never test-controlled.
 */

/** A timer handle from `Runtime.setTimeout`. */
export type TimerHandle = number

/** What keeps background work alive: the platform's `ExecutionContext` (or Hono's view of it). */
export type WaitUntilContext = { waitUntil(promise: Promise<unknown>): void }

/** Where a request's background work is kept alive: a Hono `Context` (its `executionCtx`) or an execution context itself. */
export type WaitUntilTarget = { readonly executionCtx: WaitUntilContext } | WaitUntilContext

export type Runtime = {
  /** Milliseconds since the epoch. */
  now(): number
  /** A number in [0, 1): balancing, canary splits, backoff jitter, shard choice. Not for security. */
  random(): number
  /** A unique id (request ids, reservation ids, cache generations). */
  randomId(): string
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(timer: TimerHandle | undefined): void
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /**
   * Keeps `promise` running after the response. With no execution context (a bare `app.fetch` in
   * a test, a context that throws on access) the work just runs, unawaited, its rejection caught.
   */
  waitUntil(where: WaitUntilTarget | undefined, promise: Promise<unknown>): void
}

/** The execution context behind `where`, if it has one (Hono's `c.executionCtx` throws when absent). */
export function executionContextOf(where: WaitUntilTarget | undefined): WaitUntilContext | undefined {
  if (where === undefined) return undefined
  if ('waitUntil' in where && typeof where.waitUntil === 'function') return where
  try {
    return (where as { readonly executionCtx: WaitUntilContext }).executionCtx
  } catch {
    return undefined
  }
}

/** `sleep` over any `setTimeout`/`clearTimeout` pair: the one sleep helper. */
export function sleepWith(timers: Pick<Runtime, 'setTimeout' | 'clearTimeout'>, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      timers.clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = timers.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** `waitUntil` over an execution context, or unawaited when there is none. */
export function keepAlive(where: WaitUntilTarget | undefined, promise: Promise<unknown>): void {
  const ctx = executionContextOf(where)
  if (ctx) ctx.waitUntil(promise)
  else promise.catch(() => {})
}

/** The platform's clock, random source and timers. */
export const systemRuntime: Runtime = {
  now: () => Date.now(),
  random: () => Math.random(),
  randomId: () => crypto.randomUUID(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (timer) => {
    if (timer !== undefined) clearTimeout(timer)
  },
  sleep: (ms, signal) => sleepWith(systemRuntime, ms, signal),
  waitUntil: keepAlive,
}

/**
 * One real turn of the event loop: requests waiting for this isolate's thread run before it
 * resolves. Not time (it waits for nothing but the queue), so tests need not control it.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

/** 32-bit FNV-1a: a fast, well-spread hash for affinity keys (not for security). */
export function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // A final avalanche, so keys differing only at the end still land far apart on the ring.
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  return h >>> 0
}
