/**
 * @module
 * The `aggregate` route action's config: named backend calls, each with its request templates,
 * timeout, whether the response needs it, and how its JSON is shaped before the merge.
 * Structure only; references, cycles, budgets and deadlines are checked in `./checks`.
 *
 * @example
 * { "type": "aggregate", "calls": [
 *   { "name": "user", "upstream": "users", "path": "/users/{params.id}" },
 *   { "name": "orders", "upstream": "orders", "path": "/orders/{user.body.id}", "required": false,
 *     "select": "orders", "group": "orders" } ] }
 */
import * as v from 'valibot'
import { PurgeSchema } from '../http-cache/generation'
import { HeaderName, Milliseconds, Name } from '../core/schema'
import { Secret } from '../core/secret'
import { HeaderTemplateString, PathString, TemplateString } from '../template/schema'
import { HTTP_METHODS } from '../routing/methods'
import { HedgeSchema } from '../upstream/schema'

/** A call's name is a template root (`{user.body.id}`), so it follows the path grammar's names. */
export const CallName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'must start with a letter or "_" and hold only letters, digits, "_" or "-" (at most 64)'),
)

const Bytes = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32 * 1024 * 1024))

/** Client header names a call receives as the client sent them; `"*"` (a valid header name) is every one but credentials. */
const ForwardHeaders = v.array(HeaderName)
const FORWARD_DOCS =
  'Client headers this call receives as the client sent them (default: none). "*" is every client header but Authorization, Cookie and API-key headers, which must be named. Headers the gateway and its policies set or change (X-Forwarded-*, traceparent, the request id, forwarded claims, `headers` edits) always pass.'

export const AggregateCallSchema = v.strictObject({
  name: v.pipe(CallName, v.description(SCHEMA_DOCS ? 'How later calls and the response refer to this call: `{user.body.id}`.' : '')),
  upstream: Name,
  method: v.optional(v.picklist(HTTP_METHODS), 'GET'),
  path: v.pipe(TemplateString, v.description(SCHEMA_DOCS ? 'Path template: `/users/{params.id}`, `/orders/{user.body.id}`. A value from an earlier call that is missing fails the call (`missing-input`) unless the template gives a fallback (`{user.body.id|}` allows empty).' : '')),
  query: v.pipe(
    v.optional(v.record(v.string(), TemplateString)),
    v.description(SCHEMA_DOCS ? 'Query parameters (templates); one that renders empty is left out. A value from an earlier call that is missing fails the call (`missing-input`) unless the template gives a fallback.' : ''),
  ),
  headers: v.pipe(
    v.optional(v.record(HeaderName, Secret(HeaderTemplateString))),
    v.description(SCHEMA_DOCS ? 'Extra request headers (templates). A call sends `Accept: application/json` unless it sets Accept here or forwards the client\'s.' : ''),
  ),
  forwardHeaders: v.pipe(v.optional(ForwardHeaders), v.description(SCHEMA_DOCS ? `${FORWARD_DOCS} Default: the action's \`forwardHeaders\`.` : '')),
  body: v.pipe(
    v.optional(v.unknown()),
    v.description(SCHEMA_DOCS ? 'A JSON body: any JSON value whose strings are templates; `"{user.body}"` inserts a whole value.' : ''),
  ),
  timeout: v.pipe(
    v.optional(Milliseconds),
    v.description(SCHEMA_DOCS ? 'Time for the whole call, headers and body (default: as long as a proxy route waits for the upstream, every try and backoff).' : ''),
  ),
  required: v.pipe(
    v.optional(v.boolean(), true),
    v.description(SCHEMA_DOCS ? 'A required call\'s failure fails the request (502/504); an optional one is reported in `errors`.' : ''),
  ),
  raw: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Take the body as a string instead of JSON.' : '')),
  maxBodyBytes: v.pipe(v.optional(Bytes), v.description(SCHEMA_DOCS ? 'Largest body accepted from this call (default: the action\'s).' : '')),
  output: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Merge into the response; `false` for calls that only feed others.' : '')),
  select: v.pipe(v.optional(PathString), v.description(SCHEMA_DOCS ? 'Keep only this part of the body: `data.user`, `items[].id`.' : '')),
  collect: v.pipe(
    v.optional(v.record(v.string(), PathString)),
    v.description(SCHEMA_DOCS ? 'New keys from paths over arrays: `{ "skus": "orders[].items[].sku" }` (nested `[]` flattens).' : ''),
  ),
  allow: v.pipe(v.optional(v.pipe(v.array(PathString), v.minLength(1))), v.description(SCHEMA_DOCS ? 'Keep only these fields (dot paths, `[]` for every element).' : '')),
  deny: v.pipe(v.optional(v.pipe(v.array(PathString), v.minLength(1))), v.description(SCHEMA_DOCS ? 'Remove these fields (dot paths, `[]` for every element).' : '')),
  rename: v.pipe(
    v.optional(v.record(v.string(), CallName)),
    v.description(SCHEMA_DOCS ? 'Rename fields in place: `{ "full_name": "name", "items[].sku": "productId" }`.' : ''),
  ),
  group: v.pipe(v.optional(v.pipe(v.string(), v.minLength(1))), v.description(SCHEMA_DOCS ? 'Put the shaped result under this key.' : '')),
  append: v.pipe(
    v.optional(v.pipe(v.array(PathString), v.minLength(1))),
    v.description(SCHEMA_DOCS ? 'Response paths (`items`, `data.items`) where this call\'s list is appended to the list earlier calls put there, instead of replacing it.' : ''),
  ),
  cost: v.pipe(
    v.optional(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(0), v.maxValue(1_000_000))),
    v.description(
      SCHEMA_DOCS
        ? 'Rate-limit units this call costs when its upstream answers it (not from the call cache): a `rate-limit` policy with `actionCost` charges the sum over the calls. Default 0.'
        : '',
    ),
  ),
  costPath: v.pipe(
    v.optional(PathString),
    v.description(SCHEMA_DOCS ? 'A JSON path in this call\'s answer carrying what it cost (`usage.total_tokens`); when it holds no whole number, the call costs its `cost`.' : ''),
  ),
  hedge: v.optional(HedgeSchema),
  cache: v.pipe(
    v.optional(
      v.strictObject({
        ttl: v.pipe(
          v.number(),
          v.integer(),
          v.minValue(1),
          v.maxValue(86_400),
          v.description(SCHEMA_DOCS ? 'Upper bound (s) on how long an answer is reused; its lifetime when the origin gives none.' : ''),
        ),
        key: v.pipe(v.optional(TemplateString), v.description(SCHEMA_DOCS ? 'Whose answer it is (`{consumer.id}`); needed when the call carries credentials or the request has a consumer, and (validated) when its headers read request data.' : '')),
        purge: PurgeSchema,
      }),
    ),
    v.description(SCHEMA_DOCS ? 'Reuse this call\'s answer (GET only) as the cache policy would: the origin\'s Cache-Control capped by `ttl`.' : ''),
  ),
})

export const AggregateActionSchema = v.strictObject({
  type: v.literal('aggregate'),
  calls: v.pipe(v.array(AggregateCallSchema), v.minLength(1, 'needs at least one call'), v.maxLength(100)),
  maxInFlight: v.pipe(
    v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(50)), 6),
    v.description(SCHEMA_DOCS ? 'Calls in flight at once per request (Workers opens 6 connections at a time).' : ''),
  ),
  maxBodyBytes: v.pipe(v.optional(Bytes, 1024 * 1024), v.description(SCHEMA_DOCS ? 'Largest body accepted from a call (default 1 MiB).' : '')),
  errorsKey: v.pipe(v.optional(v.pipe(v.string(), v.minLength(1)), 'errors'), v.description(SCHEMA_DOCS ? 'Member listing failed optional calls; in a partial answer it replaces a backend member of that name.' : '')),
  forwardHeaders: v.pipe(v.optional(ForwardHeaders), v.description(SCHEMA_DOCS ? `${FORWARD_DOCS} A call's own \`forwardHeaders\` replaces this.` : '')),
  onAllFailed: v.pipe(
    v.optional(v.picklist(['error', 'empty']), 'error'),
    v.description(SCHEMA_DOCS ? 'When every call merged into the response failed or was skipped: "error" = 502 problem+json naming the calls; "empty" = 200 with only the errors member.' : ''),
  ),
  errors: v.pipe(
    v.optional(v.picklist(['problem', 'passthrough']), 'problem'),
    v.description(SCHEMA_DOCS ? 'When the required call answers 4xx/5xx: "problem" = 502 problem+json naming it; "passthrough" = its status, Content-Type and body (up to its maxBodyBytes) as they are. "passthrough" needs exactly one required call.' : ''),
  ),
  errorDetails: v.pipe(
    v.optional(v.boolean(), false),
    v.description(SCHEMA_DOCS ? 'A failed call\'s entry in errors carries its answer\'s body (`body`: JSON, or text cut at 1 KiB with `bodyTruncated`).' : ''),
  ),
})

export type AggregateActionConfig = v.InferOutput<typeof AggregateActionSchema>
export type AggregateCallConfig = AggregateActionConfig['calls'][number]
