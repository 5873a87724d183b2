/**
 * @module
 * Custom policies and actions: logic a project writes in TypeScript and registers with
 * `createWorker(config, { policies, actions })`, referenced from the config as
 * `{ "type": "custom:<name>", ...options }`. A custom policy is a Hono middleware factory like
 * the built-in ones (`./policy.ts`): its options are checked by its own valibot schema when the
 * config is validated, and it runs in its phase of the one pipeline. A custom action ends a
 * route as `proxy` or `respond` do.
 *
 * The config's structure accepts any `custom:<name>` object (`CustomPolicyEntrySchema`);
 * validation (`config/custom.ts`) then checks it against the project's registry and marks the
 * parsed entry with its definition (`CUSTOM`), which the pipeline and the route compiler read.
 * The mark travels with the parsed config, so nothing is registered globally: two gateways in one
 * isolate may register different policies under one name.
 *
 * @example
 * const tenantCheck = defineCustomPolicy({
 *   phase: 'auth',
 *   schema: v.object({ tenantHeader: v.string() }),
 *   create: ({ tenantHeader }) =>
 *     async function tenantCheck(c, next) {
 *       if (c.req.header(tenantHeader) !== c.get('claims')?.tenant) throw new GatewayError('ERR_FORBIDDEN')
 *       await next()
 *     },
 * })
 */
import type { Handler, MiddlewareHandler } from 'hono'
import * as v from 'valibot'
import type { ConfigView, RouteView } from './config-view'
import type { AppEnv } from './context'
import type { Env } from './env'
import { ConfigError } from './errors'
import { PHASES, type Phase, type PolicyDefinition } from './policy'

/** The prefix of every custom type in the config. */
export const CUSTOM_PREFIX = 'custom:'

/** A registered name: what follows `custom:` (`tenant-check`). */
export const CUSTOM_NAME = /^[a-z0-9][a-z0-9-]*$/

/** What a custom policy's factory is handed, once per route it is attached to. */
export type CustomPolicyContext = {
  /** The whole config, as features see it. */
  config: ConfigView
  /** The route the policy is attached to; undefined for a global policy. */
  route: RouteView | undefined
  /** Where the policy sits in the config, e.g. `routes[2].policies[1]`. */
  at: string
  env: Env
}

/** What a custom action's factory is handed, once per route. */
export type CustomActionContext = { config: ConfigView; route: RouteView; at: string }

export type CustomPolicy<TSchema extends v.GenericSchema = v.GenericSchema> = {
  phase: Phase
  /** The options' schema, without `type` (e.g. `v.strictObject({ tenantHeader: v.string() })`). */
  schema: TSchema
  /** Builds the middleware from validated options: throw an `Error` here to refuse the config. */
  create(options: v.InferOutput<TSchema>, context: CustomPolicyContext): MiddlewareHandler<AppEnv>
  /** Worst-case subrequests (`fetch` calls) the middleware makes per request, for the budget check. */
  subrequests?(options: v.InferOutput<TSchema>): number
}

export type CustomAction<TSchema extends v.GenericSchema = v.GenericSchema> = {
  /** The options' schema, without `type`. */
  schema: TSchema
  /** Builds the handler that answers the route's requests (it returns the response). */
  create(options: v.InferOutput<TSchema>, context: CustomActionContext): Handler<AppEnv>
  /** Worst-case subrequests the handler makes per request, for the budget check. */
  subrequests?(options: v.InferOutput<TSchema>): number
}

/** What a project registers: custom policies and actions by name (`tenant-check`, not `custom:tenant-check`). */
export type Extensions = {
  policies?: Record<string, CustomPolicy> | undefined
  actions?: Record<string, CustomAction> | undefined
}

/**
 * Refuses a registry the config could never name, when the Worker is built (as a Hono factory
 * refuses bad options): a name that is not lower-case letters, digits and dashes, or a policy
 * without a known phase, schema or factory.
 */
export function checkExtensions(extensions: Extensions): void {
  const kinds = { policies: extensions.policies ?? {}, actions: extensions.actions ?? {} }
  for (const [kind, registry] of Object.entries(kinds)) {
    for (const [name, definition] of Object.entries(registry)) {
      const at = `${kind}["${name}"]`
      if (!CUSTOM_NAME.test(name)) throw new Error(`${at}: a custom name is lower-case letters, digits and dashes ("tenant-check"), used as "custom:${name}"`)
      if (typeof definition?.create !== 'function' || typeof definition.schema?.['~run'] !== 'function') {
        throw new Error(`${at}: expected a definition with a valibot \`schema\` and a \`create\` factory`)
      }
      if (kind === 'policies' && !PHASES.includes((definition as CustomPolicy).phase)) {
        throw new Error(`${at}.phase: expected one of ${PHASES.map((phase) => `"${phase}"`).join(' | ')}`)
      }
    }
  }
}

/** A custom policy, typed by its schema (the identity: it gives `create` its options' type). */
export function defineCustomPolicy<TSchema extends v.GenericSchema>(definition: CustomPolicy<TSchema>): CustomPolicy<TSchema> {
  return definition
}

/** A custom action, typed by its schema. */
export function defineCustomAction<TSchema extends v.GenericSchema>(definition: CustomAction<TSchema>): CustomAction<TSchema> {
  return definition
}

/**
 * Any `custom:<name>` type, as the config's structure sees it; `expects` is what a wrong `type`'s
 * message lists beside the built-in types. The registry is checked later (`config/custom.ts`).
 */
const CustomType = {
  ...v.pipe(v.string(), v.regex(/^custom:[a-z0-9][a-z0-9-]*$/)),
  expects: '"custom:<name>"',
} as unknown as v.GenericSchema<`custom:${string}`>

/** A custom policy entry before its own schema has checked it: `type` and any options. */
export const CustomPolicyEntrySchema = v.looseObject({
  type: v.pipe(CustomType, v.description('A custom policy the project registers (`createWorker(config, { policies })`).')),
})

/** A custom action entry before its own schema has checked it. */
export const CustomActionEntrySchema = v.looseObject({
  type: v.pipe(CustomType, v.description('A custom action the project registers (`createWorker(config, { actions })`).')),
})

export const isCustomType = (type: string): type is `custom:${string}` => type.startsWith(CUSTOM_PREFIX)

/** The mark on a parsed custom entry: its definition, set by validation. A symbol: JSON and `Object.entries` never see it. */
export const CUSTOM = Symbol('edgeway.custom')

type Marked<T> = { [CUSTOM]?: T }

/** The options a custom definition's schema checks: the entry without its `type`. */
export function customOptions(entry: { type: string }): Record<string, unknown> {
  const { type: _type, ...options } = entry as Record<string | symbol, unknown>
  delete options[CUSTOM]
  return options
}

/** A custom policy as the pipeline runs built-in ones; its factory's throw is a config error at its place. */
function asPolicyDefinition(type: string, custom: CustomPolicy): PolicyDefinition {
  return {
    type,
    phase: custom.phase,
    schema: custom.schema,
    create(entry, build) {
      try {
        return custom.create(customOptions(entry as { type: string }), { config: build.config, route: build.route, at: build.at, env: build.env })
      } catch (err) {
        throw new ConfigError([`${build.at}: ${(err as Error).message}`])
      }
    },
    subrequests: (entry) => custom.subrequests?.(customOptions(entry as { type: string })) ?? 0,
  }
}

/** Marks a parsed custom policy entry with its definition (validation does, once it checked the options). */
export function markCustomPolicy<T extends { type: string }>(entry: T, custom: CustomPolicy): T {
  ;(entry as Marked<PolicyDefinition>)[CUSTOM] = asPolicyDefinition(entry.type, custom)
  return entry
}

/** Marks a parsed custom action entry with its definition. */
export function markCustomAction<T extends { type: string }>(entry: T, custom: CustomAction): T {
  ;(entry as Marked<CustomAction>)[CUSTOM] = custom
  return entry
}

/** The definition validation marked a custom policy entry with (undefined for a built-in one). */
export function customPolicyOf(entry: object): PolicyDefinition | undefined {
  return (entry as Marked<PolicyDefinition>)[CUSTOM]
}

/** The definition validation marked a custom action entry with. */
export function customActionOf(entry: object): CustomAction | undefined {
  return (entry as Marked<CustomAction>)[CUSTOM]
}

/** The handler of a route's custom action (its factory's throw is a config error at the action's place). */
export function customActionHandler(entry: { type: string }, context: CustomActionContext): Handler<AppEnv> {
  const custom = customActionOf(entry)
  if (!custom) throw new ConfigError([`${context.at}.type: unknown custom action "${entry.type}"`])
  try {
    return custom.create(customOptions(entry), context)
  } catch (err) {
    throw new ConfigError([`${context.at}: ${(err as Error).message}`])
  }
}
