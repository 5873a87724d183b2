/**
 * @module
 * The contract for counting wrong credentials across isolates (`rate-limit/credential-failures.ts`
 * implements it on the `RateLimiter` Durable Object; the gateway hands it to policies and to the
 * admin API). A feature that checks a secret says what it counts; the counter bounds guessing per
 * client IP and per any other subject the feature names (a user name).
 */
import type { Context } from 'hono'
import type { AppEnv } from './context'

/** One kind of wrong credential and how many are allowed. */
export type FailureLimit = {
  /** The counter's id in each subject's object, e.g. `basic-auth/failures`. */
  id: string
  max: number
  windowMs: number
  /** The 429's detail, e.g. `Too many wrong passwords; retry in 12 s.` */
  detail(retryAfterSeconds: number): string
  /** The 429's `limit` extension, e.g. `basic-auth-failures`. */
  name: string
  /**
   * How long (ms) an isolate may take a right credential's objects, found not blocked, as still
   * not blocked for the same client IP and subjects, instead of asking them on every request.
   * Undefined: ask every time. A block made in another isolate then reaches this one within this
   * time, or at once when a wrong credential for any of them reaches it.
   */
  rememberClearMs?: number
}

/**
 * Call after checking a credential: `ok` false counts a failure for the client's IP and for each
 * of `subjects` (label -> value, e.g. `{ 'basic-user': 'alice' }`). Throws a 429 `GatewayError`
 * while any of them is blocked, whatever `ok` is: were the right credential let through, blocking
 * would only slow guessing down, never stop it.
 */
export type FailureGuard = (c: Context<AppEnv>, ok: boolean, subjects?: Readonly<Record<string, string>>) => Promise<void>

/** Builds the guard for one kind of credential. */
export type FailureCounter = (limit: FailureLimit) => FailureGuard
