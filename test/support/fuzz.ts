/**
 * Settings for the property-based tests (`*.fuzz.test.ts`, fast-check). Under `npm test` every
 * property runs a small fixed number of cases from a fixed seed, so the run is fast and the same
 * every time; `npm run fuzz` sets `FUZZ_RUNS` (and a random `FUZZ_SEED`) through the test pool's
 * bindings (vitest.config.ts) for a longer search. A failure prints the seed and the shrunk
 * counterexample's path: `FUZZ_SEED=<seed> npm run fuzz` replays it (`FUZZ_SEED=random`, the
 * script's default, draws a new seed for each property).
 */
import { env } from 'cloudflare:workers'
import type { Parameters } from 'fast-check'

/** The seed every `npm test` run uses. */
export const FIXED_SEED = 0x14_2026

/** fast-check options for a property whose `npm test` run is `runs` cases. */
export function fuzzOptions(runs: number): Parameters<unknown> {
  const wanted = Number(env.FUZZ_RUNS)
  const given = env.FUZZ_SEED ?? ''
  const seed = given === '' ? FIXED_SEED : given === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(given)
  return { seed, numRuns: Number.isInteger(wanted) && wanted > 0 ? wanted : runs }
}
