/**
 * @module
 * The test kit's clock (`edgeway/testing`): a runtime the test controls (see src/core/runtime.ts): its clock moves only when the test says,
 * its random source is seeded, and its timers fire when the clock passes them (`advance`), so a
 * test waits for nothing real and races no real timer. Real I/O stays real: `waitUntil` goes to
 * the request's execution context, and ids are real UUIDs (Durable Object names and reservation
 * ids are shared by every test file in the pool, so they must not repeat between runs).
 *
 * `timers: 'real'` keeps the platform's timers and freezes only the clock: for tests of state
 * machines (breakers, ejection, budgets) whose requests still need real I/O timeouts.
 */
import { keepAlive, sleepWith, systemRuntime, type Runtime } from '../core/runtime'

/** Mulberry32: a small, well-spread seeded generator, so "random" draws repeat run after run. */
export function seededRandom(seed = 0x2f6b_3a1d): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

export type ManualRuntime = Runtime & {
  /**
   * Moves the clock forward by `ms`, firing each timer that falls due on the way, in order, at its
   * own time, and letting the work it starts run before the next one fires.
   */
  advance(ms: number): Promise<void>
  /** Moves the clock at once, for synchronous tests; throws if a timer of this runtime falls due on the way. */
  move(ms: number): void
  /** Replaces the random source (`() => 0.99`, or a fixed sequence with `sequence`). */
  setRandom(fn: () => number): void
  /** Timers scheduled and not yet fired or cleared. */
  pendingTimers(): number
  /** Whether the timer with this handle is scheduled and not yet fired or cleared. */
  isPending(timer: number): boolean
  /** Milliseconds until the earliest pending timer falls due (undefined with none pending). */
  nextTimerIn(): number | undefined
  /** Timers ever scheduled (fired, cleared or pending): how far the code under test has got. */
  scheduledTimers(): number
  /**
   * Resolves once `condition()` holds, yielding to real I/O in between (it never moves the clock);
   * fails after `limitMs` of real time so a broken test ends instead of hanging.
   */
  until(condition: () => boolean, limitMs?: number): Promise<void>
}

type Timer = { id: number; at: number; fn: () => void }

/** Lets pending I/O callbacks and promise chains run: one real macrotask turn. */
export const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

/**
 * Resolves once `condition()` holds, yielding to real I/O in between; fails after `limitMs` of
 * real time so a broken test ends instead of hanging. A wait for a state, never a timed guess.
 */
export async function waitFor(condition: () => boolean, limitMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + limitMs
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error('waitFor: the condition never held')
    await settle()
  }
}

/**
 * Reads `read` until `done(value)` holds and returns the last reading, yielding one real macrotask
 * turn between readings (each reading is real I/O; nothing sleeps). Bounded by `tries` readings and
 * `limitMs` of real time: then it returns the last reading, and the test's own assertion on it says
 * what was expected. For state outside the test's clock: what an origin saw, a store in `waitUntil`.
 */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, { tries = Infinity, limitMs = 5_000 } = {}): Promise<T> {
  const giveUpAt = Date.now() + limitMs
  let value = await read()
  for (let i = 1; i < tries && !done(value) && Date.now() <= giveUpAt; i++) {
    await settle()
    value = await read()
  }
  return value
}

export function manualRuntime(options: { start?: number; seed?: number; timers?: 'manual' | 'real' } = {}): ManualRuntime {
  let now = options.start ?? Date.now()
  let random = seededRandom(options.seed)
  const timers = new Map<number, Timer>()
  let nextId = 1
  const realTimers = options.timers === 'real'

  const runtime: ManualRuntime = {
    now: () => now,
    random: () => random(),
    randomId: () => crypto.randomUUID(),
    setTimeout(fn, ms) {
      if (realTimers) return setTimeout(fn, ms) as unknown as number
      const id = nextId++
      timers.set(id, { id, at: now + Math.max(0, ms), fn })
      return id
    },
    clearTimeout(id) {
      if (id === undefined) return
      if (realTimers) clearTimeout(id)
      else timers.delete(id)
    },
    sleep: (ms, signal) => sleepWith(runtime, ms, signal),
    waitUntil: keepAlive,

    async advance(ms) {
      const until = now + ms
      if (realTimers) {
        now = until
        return
      }
      for (;;) {
        await settle()
        let due: Timer | undefined
        for (const timer of timers.values()) if (timer.at <= until && (!due || timer.at < due.at)) due = timer
        if (!due) break
        timers.delete(due.id)
        now = Math.max(now, due.at)
        due.fn()
      }
      now = until
      await settle()
    },
    move(ms) {
      for (const timer of timers.values()) if (timer.at <= now + ms) throw new Error('manualRuntime.move: a timer falls due; use advance')
      now += ms
    },
    setRandom(fn) {
      random = fn
    },
    pendingTimers: () => timers.size,
    isPending: (timer) => timers.has(timer),
    scheduledTimers: () => nextId - 1,
    nextTimerIn() {
      let at: number | undefined
      for (const timer of timers.values()) if (at === undefined || timer.at < at) at = timer.at
      return at === undefined ? undefined : at - now
    },
    until: waitFor,
  }
  return runtime
}

/**
 * A runtime whose clock stands still until the test moves it (`advance`), and whose timers are
 * real: for state machines (breakers, ejection, key-set cooldowns) whose requests still need real
 * I/O timeouts. Starts at the real time unless `start` says otherwise.
 */
export function stoppedClock(start?: number): ManualRuntime {
  return manualRuntime({ ...(start !== undefined && { start }), timers: 'real' })
}

/** The system's runtime with a seeded random source: real time, repeatable draws. */
export function seededRuntime(seed?: number): Runtime {
  return { ...systemRuntime, random: seededRandom(seed) }
}

/** A random source that returns `values` in turn, round and round. */
export function sequence(values: readonly number[]): () => number {
  let i = 0
  return () => values[i++ % values.length]!
}
