/**
 * @module
 * Work cut into steps, so a long job (validating and compiling a config of 26,000 routes) can
 * share the isolate's one thread with the requests it serves. The job is a generator that
 * `yield`s between slices of its work; `runSteps` runs it straight through (startup, scripts,
 * tests), `runStepsYielding` lets other work run at every `yield` (a hot reload in the background).
 */

/** A job that yields between slices of its work and returns `T`. */
export type Steps<T> = Generator<void, T, void>

/**
 * How many routes a slice handles: about 0.5-3 ms of work each, so a slice never holds the thread
 * for long. A slice and a garbage collection can fall together, so shorter slices shorten the
 * longest wait too: 100 routes a slice gave 21-39 ms at most per reload of the 26,619-route bench,
 * 50 gives 19-36 ms, for a reload that takes 1.5-2.0 s instead of 1.3-1.5 s.
 */
export const ROUTES_PER_STEP = 50

/** Runs the job to its end without pausing. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const next = steps.next()
    if (next.done) return next.value
  }
}

/** Runs the job, awaiting `pause()` at each of its yields. */
export async function runStepsYielding<T>(steps: Steps<T>, pause: () => Promise<void>): Promise<T> {
  for (;;) {
    const next = steps.next()
    if (next.done) return next.value
    await pause()
  }
}

/** The slices of `items` (`ROUTES_PER_STEP` long), with the index each starts at. */
export function* slices<T>(items: readonly T[], size = ROUTES_PER_STEP): Generator<[T[], number]> {
  for (let start = 0; start < items.length; start += size) yield [items.slice(start, start + size), start]
}
