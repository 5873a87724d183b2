/**
 * @module
 * What a policy is: a `type`, the phase it runs in, its options schema, and a factory that builds a
 * Hono middleware from validated options once per isolate (as Hono's own middleware factories do).
 */
import type { MiddlewareHandler } from 'hono'
import type * as v from 'valibot'
import type { ConfigView, PolicyView, RouteView } from './config-view'
import type { AppEnv } from './context'
import type { Env } from './env'
import type { FailureCounter } from './failures'

/**
 * The fixed order a request runs through. Policies cannot be configured into an unsafe order
 * (a cache lookup before authentication, say); within a phase, config order holds, global first.
 * Global `request` policies run before routing, so they also cover 404s.
 */
export const PHASES = ['request', 'auth', 'rate-limit', 'cache', 'transform'] as const
export type Phase = (typeof PHASES)[number]

/** Handed to a policy's factory and its validator. */
export type PolicyContext = {
  /** The whole config, seen through the views a feature may read (see `./config-view`). */
  config: ConfigView
  /** The route the policy is attached to; undefined for a global policy. */
  route: RouteView | undefined
  /** Where the policy sits in the config, e.g. `routes[2].policies[0]`. */
  at: string
  /** The phase another configured policy runs in (undefined for an unknown type). */
  phaseOf(policy: PolicyView): Phase | undefined
}

export type BuildContext = PolicyContext & {
  env: Env
  /** Counts wrong credentials across isolates (`core/failures.ts`); absent where nothing counts them. */
  failures?: FailureCounter | undefined
}

export type ValidationContext = PolicyContext & {
  /** Reports a problem at `at` + `field` (e.g. `.request.set.X-User`). */
  error(field: string, message: string): void
}

export type PolicyDefinition<TSchema extends v.GenericSchema = v.GenericSchema> = {
  type: string
  phase: Phase
  /** The phase of one configured instance, when an option can move it (`rate-limit`'s `beforeAuth`). */
  phaseOf?(options: v.InferOutput<TSchema>): Phase
  schema: TSchema
  create(options: v.InferOutput<TSchema>, build: BuildContext): MiddlewareHandler<AppEnv>
  /** Cross-field checks that the schema cannot express (a feature's `checks.ts`). */
  check?(options: v.InferOutput<TSchema>, ctx: ValidationContext): void
  /** Worst-case subrequests the policy makes per request, for the budget check. */
  subrequests?(options: v.InferOutput<TSchema>): number
}

export function definePolicy<TSchema extends v.GenericSchema>(definition: PolicyDefinition<TSchema>): PolicyDefinition<TSchema> {
  return definition
}
