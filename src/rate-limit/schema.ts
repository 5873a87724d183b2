/**
 * @module
 * The shapes of a limit and a quota, shared by the `rate-limit` policy and a plan's `limits` and
 * `quotas` (`plans.<name>` in the gateway config).
 */
import * as v from 'valibot'
import { HeaderName, Milliseconds, Name } from '../core/schema'
import { PathString } from '../template/schema'
import { KeySpecSchema } from './keys'

/** Checks one `RateLimiter` call may carry; the policy's validation keeps every request within it. */
export const MAX_CHECKS = 32
/** Longest check id (`route:<route id>/<name>`) the object takes; validation keeps every id within it. */
export const MAX_CHECK_ID = 256

/**
 * Window limits keep a weighted row per admission, lease or cost report, not one per unit. A
 * window's rows are bounded by its admissions (at most `limit`) and by its milliseconds (reports
 * are one row per step of 1/200 of the window, at least 1 ms): so a limit may go up to a billion units (tokens) when its window
 * is a minute or less, and to 100,000 for longer windows (larger counts belong in quotas).
 */
export const MAX_WINDOW_LIMIT = 1_000_000_000
export const MAX_LONG_WINDOW_LIMIT = 100_000
export const LONG_WINDOW_SECONDS = 60
const MAX_WINDOW_SECONDS = 31 * 86_400

export const WindowLimitEntries = {
  name: v.pipe(Name, v.description(SCHEMA_DOCS ? 'Names the limit in `RateLimit-Policy`, 429 bodies and the admin API.' : '')),
  limit: v.pipe(
    v.number(),
    v.integer('must be a whole number'),
    v.minValue(1),
    v.maxValue(MAX_WINDOW_LIMIT, `must be at most ${MAX_WINDOW_LIMIT} (use a quota for larger counts)`),
    v.description(SCHEMA_DOCS ? 'Requests admitted in any window of `window` seconds.' : ''),
  ),
  window: v.pipe(
    v.number(),
    v.integer('must be whole seconds'),
    v.minValue(1),
    v.maxValue(MAX_WINDOW_SECONDS, 'must be at most 31 days (2678400 seconds)'),
    v.description(SCHEMA_DOCS ? 'The sliding window, in seconds.' : ''),
  ),
}

export const QuotaEntries = {
  name: WindowLimitEntries.name,
  limit: v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(1e9), v.description(SCHEMA_DOCS ? 'Requests per period.' : '')),
  period: v.pipe(v.picklist(['day', 'month']), v.description(SCHEMA_DOCS ? 'Calendar period in UTC; the count restarts at its first millisecond.' : '')),
}

/** Keeps a long window's log small (see `MAX_WINDOW_LIMIT`). */
function boundedRows<T extends { limit: number; window: number }>() {
  return v.forward<T, v.CheckIssue<T>, ['limit']>(
    v.check(
      (limit) => limit.limit <= MAX_LONG_WINDOW_LIMIT || limit.window <= LONG_WINDOW_SECONDS,
      `must be at most ${MAX_LONG_WINDOW_LIMIT} for a window over ${LONG_WINDOW_SECONDS} seconds (use a quota for larger counts)`,
    ),
    // A generic `T` can't prove `limit` is a key of it to valibot's path type; it is, by the bound.
    ['limit'] as never,
  )
}

export const WindowLimitSchema = v.pipe(v.strictObject(WindowLimitEntries), boundedRows<v.InferOutput<v.StrictObjectSchema<typeof WindowLimitEntries, undefined>>>())
export const QuotaSchema = v.strictObject(QuotaEntries)

/** The first name used twice in a list of limits and quotas, if any. */
export function duplicateName(items: { name: string }[]): string | undefined {
  const seen = new Set<string>()
  for (const { name } of items) {
    if (seen.has(name)) return name
    seen.add(name)
  }
  return undefined
}

/** A plan: what its consumers may do. A `rate-limit` policy with `"plans": true` applies its limits per consumer. */
export const PlanSchema = v.pipe(
  v.strictObject({
    description: v.optional(v.string()),
    limits: v.pipe(v.optional(v.array(WindowLimitSchema), []), v.description(SCHEMA_DOCS ? 'Sliding-window limits for each consumer on the plan.' : '')),
    quotas: v.pipe(v.optional(v.array(QuotaSchema), []), v.description(SCHEMA_DOCS ? 'Calendar quotas (UTC day or month) for each consumer on the plan.' : '')),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return
    const name = duplicateName([...dataset.value.limits, ...dataset.value.quotas])
    if (name !== undefined) addIssue({ message: `limit and quota names must be unique ("${name}" is used twice)` })
  }),
)

export type PlanConfig = v.InferOutput<typeof PlanSchema>

/**
 * The config's plans, typed. Features see the config through `core/config-view`, where this
 * section is opaque; `config/` has validated every entry with `PlanSchema`.
 */
export function plansOf(config: { readonly plans: Readonly<Record<string, unknown>> }): Readonly<Record<string, PlanConfig>> {
  return config.plans as Readonly<Record<string, PlanConfig>>
}

const KeyOverrides = {
  by: v.pipe(v.optional(KeySpecSchema), v.description(SCHEMA_DOCS ? 'This limit\'s key, instead of the policy\'s `by`.' : '')),
  fallback: v.pipe(v.optional(KeySpecSchema), v.description(SCHEMA_DOCS ? 'Key used when a part of `by` has no value.' : '')),
}

/** The `rate-limit` policy's options. */
export const RateLimitOptionsSchema = v.strictObject({
  type: v.literal('rate-limit'),
  by: v.pipe(v.optional(KeySpecSchema, ['ip']), v.description(SCHEMA_DOCS ? 'Who shares a counter: parts of `consumer`, `ip`, `route`, `apiKey`, `{ "header": name }`.' : '')),
  fallback: v.pipe(v.optional(KeySpecSchema), v.description(SCHEMA_DOCS ? 'Key used when a part of `by` has no value (e.g. `["ip"]` for `["consumer"]`).' : '')),
  limits: v.optional(v.array(v.pipe(v.strictObject({ ...WindowLimitEntries, ...KeyOverrides }), boundedRows())), []),
  quotas: v.optional(v.array(v.strictObject({ ...QuotaEntries, ...KeyOverrides })), []),
  plans: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Also apply the limits and quotas of the consumer\'s plan, per consumer.' : '')),
  binding: v.pipe(v.optional(Name, 'RATE_LIMITER'), v.description(SCHEMA_DOCS ? 'The `RateLimiter` Durable Object binding.' : '')),
  onError: v.pipe(v.optional(v.picklist(['allow', 'deny']), 'allow'), v.description(SCHEMA_DOCS ? 'When the limiter fails or times out: let requests through, or answer 503.' : '')),
  timeout: v.pipe(v.optional(Milliseconds, 1000), v.description(SCHEMA_DOCS ? 'Longest wait for the limiter, in ms.' : '')),
  cost: v.pipe(
    v.optional(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(1_000_000)), 1),
    v.description(SCHEMA_DOCS ? 'Units each request takes from every limit and quota of the policy (and of the plan it applies).' : ''),
  ),
  costHeader: v.pipe(
    v.optional(HeaderName),
    v.description(
      SCHEMA_DOCS
        ? 'A response header carrying what the request cost (e.g. `X-Usage-Tokens`): admission takes `minCost` units, the rest is charged after the response (the key may go into debt); a response saying 0 is charged nothing.'
        : '',
    ),
  ),
  costPath: v.pipe(
    v.optional(PathString),
    v.description(
      SCHEMA_DOCS
        ? 'A JSON path in the response body carrying what the request cost (e.g. `usage.total_tokens`), read from a tee of the body so the client\'s answer is never delayed; in a `text/event-stream` answer, from the last `data:` event that carries it, once the stream ends. Admission takes `minCost`, the rest is charged after; unreadable, `minCost` stays charged.'
        : '',
    ),
  ),
  costMaxBytes: v.pipe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32 * 1024 * 1024)), 1024 * 1024),
    v.description(SCHEMA_DOCS ? 'With `costPath`: the most bytes of a JSON body read for its cost (of an event stream: of one event). Default 1 MiB.' : ''),
  ),
  actionCost: v.pipe(
    v.optional(v.boolean(), false),
    v.description(
      SCHEMA_DOCS
        ? 'Charge what the route\'s action reports the request cost: an `aggregate` action\'s sum of its answered calls\' `cost` / `costPath`. Admission takes `minCost`, the rest is charged after the response.'
        : '',
    ),
  ),
  minCost: v.pipe(
    v.optional(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1), v.maxValue(1_000_000)), 1),
    v.description(SCHEMA_DOCS ? 'With `costHeader`, `costPath` or `actionCost`: the units admission takes before the cost is known.' : ''),
  ),
  mode: v.pipe(
    v.optional(v.picklist(['lease', 'exact']), 'lease'),
    v.description(
      SCHEMA_DOCS
        ? '`lease`: limits and quotas are spent from leases this isolate holds, with no round trip on most requests (a quota may lose up to 1% a period to leases never returned); `exact`: every request waits for the object (an RPC and a durable write each).'
        : '',
    ),
  ),
  beforeAuth: v.pipe(
    v.optional(v.boolean(), false),
    v.description(SCHEMA_DOCS ? 'Run before authentication (request phase), so requests with bad credentials count too. Keys by `ip` or headers only.' : ''),
  ),
})

export type RateLimitOptions = v.InferOutput<typeof RateLimitOptionsSchema>
