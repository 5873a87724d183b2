/**
 * @module
 * The gateway config schema: the single source of the config's TypeScript types, its runtime
 * validation and the generated JSON Schema (`edgeway.schema.json`, `npm run schema`).
 * Structure lives here; checks that span fields (references, budgets, deadlines) are in `./validate`.
 * Every object is strict: an unknown key is an error, so a typo never passes silently.
 */
import * as v from 'valibot'
import { PolicySchema } from '../gateway/policies'
import { HTTP_METHODS } from '../routing/methods'
import { HeaderName, Milliseconds, Name, RegexString, TemplateString } from '../core/schema'
import { AggregateActionSchema } from '../aggregate/schema'
import {
  BalanceSchema,
  CircuitBreakerSchema,
  FallbackSchema,
  HealthCheckSchema,
  KeySource,
  MirrorSchema,
  PassiveHealthSchema,
  RetrySchema,
  SplitSchema,
  StickySchema,
  TargetSchema,
} from '../upstream/schema'
import { duplicateName, QuotaSchema, WindowLimitSchema } from '../rate-limit/schema'
import { MetricsSettingsSchema } from '../observability/schema'
import { OpenApiSettingsSchema, PortalSettingsSchema } from '../openapi/schema'

export const UpstreamTimeoutsSchema = v.strictObject({
  headers: v.pipe(v.optional(Milliseconds, 15_000), v.description(SCHEMA_DOCS ? 'Time to wait for response headers (504 when exceeded).' : '')),
  idle: v.pipe(v.optional(Milliseconds, 60_000), v.description(SCHEMA_DOCS ? 'Longest pause between two body chunks before the stream is cut.' : '')),
  total: v.pipe(v.optional(Milliseconds), v.description(SCHEMA_DOCS ? 'All tries and backoff together.' : '')),
})

export const UpstreamSchema = v.pipe(
  v.strictObject({
    url: v.pipe(
      v.optional(v.string()),
      v.description(SCHEMA_DOCS ? 'Origin base URL (`https://api.internal.example`); `${VAR}` is replaced by a Worker variable.' : ''),
    ),
    service: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Name of a service binding to another Worker.' : '')),
    targets: v.pipe(v.optional(v.pipe(v.array(TargetSchema), v.minLength(1, 'must list at least one target'))), v.description(SCHEMA_DOCS ? 'A pool: several targets with weights.' : '')),
    balance: BalanceSchema,
    hashOn: v.pipe(v.optional(KeySource), v.description(SCHEMA_DOCS ? 'Key for `balance: "hash"`.' : '')),
    sticky: v.pipe(v.optional(StickySchema), v.description(SCHEMA_DOCS ? 'ALB-style sticky sessions: a cookie naming the target.' : '')),
    healthCheck: v.pipe(v.optional(HealthCheckSchema), v.description(SCHEMA_DOCS ? 'Active checks by a Durable Object, shared.' : '')),
    passive: v.pipe(v.optional(PassiveHealthSchema), v.description(SCHEMA_DOCS ? 'Ejects failing targets (per isolate).' : '')),
    circuitBreaker: v.optional(CircuitBreakerSchema),
    retries: v.optional(RetrySchema),
    fallback: v.optional(FallbackSchema),
    timeouts: v.optional(UpstreamTimeoutsSchema, {}),
    mtls: v.pipe(
      v.optional(Name),
      v.description(SCHEMA_DOCS ? 'Name of an mTLS certificate binding (`[[mtls_certificates]]`): the gateway presents that client certificate to the origin.' : ''),
    ),
  }),
  v.check(
    (upstream) => [upstream.url, upstream.service, upstream.targets].filter((x) => x !== undefined).length === 1,
    'set exactly one of "url", "service" or "targets"',
  ),
  v.check((upstream) => upstream.mtls === undefined || upstream.service === undefined, '"mtls" applies to URL targets, not a service binding'),
)

// A condition object must test something, and "absent" cannot also test a value (it could never match).
const HeaderConditionSchema = v.union([
  v.string(),
  v.pipe(
    v.strictObject({
      equals: v.optional(v.string()),
      regex: v.optional(RegexString),
      present: v.optional(v.boolean()),
    }),
    v.check((c) => c.equals !== undefined || c.regex !== undefined || c.present !== undefined, 'set "equals", "regex" or "present"'),
    v.check((c) => c.present !== false || (c.equals === undefined && c.regex === undefined), '"present": false cannot be combined with "equals" or "regex"'),
  ),
])

const QueryConditionSchema = v.union([
  v.string(),
  v.pipe(
    v.strictObject({ equals: v.optional(v.string()), present: v.optional(v.boolean()) }),
    v.check((c) => c.equals !== undefined || c.present !== undefined, 'set "equals" or "present"'),
    v.check((c) => c.present !== false || c.equals === undefined, '"present": false cannot be combined with "equals"'),
  ),
])

export const MatchSchema = v.strictObject({
  path: v.pipe(
    v.optional(v.pipe(v.string(), v.startsWith('/', 'must start with "/"')), '/*'),
    v.description(SCHEMA_DOCS ? 'Path pattern: `/users/:id`, `/files/*` (tail as `params.*`), `/x/:rest{.+}`.' : ''),
  ),
  methods: v.optional(v.pipe(v.array(v.picklist(HTTP_METHODS)), v.minLength(1))),
  host: v.pipe(
    v.optional(v.union([v.string(), v.array(v.string())])),
    v.description(SCHEMA_DOCS ? 'Exact host or `*.example.com` (any subdomain); a list matches any.' : ''),
  ),
  headers: v.pipe(
    v.optional(v.record(HeaderName, HeaderConditionSchema)),
    v.description(SCHEMA_DOCS ? 'Header name -> exact value, or `{ "equals" | "regex" | "present" }`.' : ''),
  ),
  query: v.pipe(
    v.optional(v.record(v.string(), QueryConditionSchema)),
    v.description(SCHEMA_DOCS ? 'Query parameter -> exact value, or `{ "equals" | "present" }`.' : ''),
  ),
})

const ProxyActionSchema = v.strictObject({
  type: v.literal('proxy'),
  upstream: Name,
  path: v.pipe(v.optional(TemplateString), v.description(SCHEMA_DOCS ? 'Rewrite template for the upstream path: `/v2/users/{params.id}`.' : '')),
  stripPrefix: v.pipe(v.optional(v.pipe(v.string(), v.startsWith('/'))), v.description(SCHEMA_DOCS ? 'Removed from the start of the path.' : '')),
  websocket: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Let WebSocket upgrades through this route.' : '')),
  split: v.optional(SplitSchema),
  pinBy: v.pipe(v.optional(KeySource), v.description(SCHEMA_DOCS ? 'Pins a client to one side of `split`.' : '')),
  mirror: v.pipe(v.optional(MirrorSchema), v.description(SCHEMA_DOCS ? 'Shadow traffic, in waitUntil.' : '')),
})

const RespondActionSchema = v.strictObject({
  type: v.literal('respond'),
  status: v.optional(v.pipe(v.number(), v.integer(), v.minValue(200), v.maxValue(599)), 200),
  headers: v.optional(v.record(HeaderName, TemplateString), {}),
  body: v.pipe(v.optional(v.unknown()), v.description(SCHEMA_DOCS ? 'A string (a template) or any JSON value (sent as JSON).' : '')),
})

const RedirectActionSchema = v.strictObject({
  type: v.literal('redirect'),
  status: v.optional(v.picklist([301, 302, 303, 307, 308]), 302),
  location: TemplateString,
})

export const ActionSchema = v.variant('type', [ProxyActionSchema, RespondActionSchema, RedirectActionSchema, AggregateActionSchema])

export const RouteSchema = v.strictObject({
  id: Name,
  description: v.optional(v.string()),
  version: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'The API version this route belongs to (see `versioning`).' : '')),
  match: MatchSchema,
  policies: v.optional(v.array(PolicySchema), []),
  deadline: v.pipe(v.optional(Milliseconds), v.description(SCHEMA_DOCS ? 'Total time for the route; must cover what it contains.' : '')),
  action: ActionSchema,
})

const VersionSchema = v.strictObject({
  deprecated: v.pipe(
    v.optional(v.pipe(v.string(), v.isoTimestamp())),
    v.description(SCHEMA_DOCS ? 'ISO time the version was deprecated: sends a `Deprecation` header (RFC 9745).' : ''),
  ),
  sunset: v.pipe(v.optional(v.pipe(v.string(), v.isoTimestamp())), v.description(SCHEMA_DOCS ? 'Sends a `Sunset` header (RFC 8594).' : '')),
  link: v.pipe(v.optional(v.pipe(v.string(), v.url())), v.description(SCHEMA_DOCS ? 'Migration guide, sent as `Link: <...>; rel="deprecation"`.' : '')),
})

export const VersioningSchema = v.strictObject({
  prefix: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Select a version by a leading path segment (`/v1/...`).' : '')),
  headers: v.optional(v.array(HeaderName), ['api-version', 'accept-version']),
  default: v.optional(Name),
  versions: v.record(Name, VersionSchema),
})

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

export const ConsumerSchema = v.strictObject({
  plan: v.optional(Name),
  metadata: v.pipe(v.optional(v.record(v.string(), v.unknown())), v.description(SCHEMA_DOCS ? 'Free-form; readable in templates as `consumer.metadata`.' : '')),
  apiKeySecrets: v.pipe(
    v.optional(v.array(Name)),
    v.description(SCHEMA_DOCS ? 'Names of Worker secrets, each holding the hex SHA-256 of one of this consumer\'s API keys (for the `api-key` policy).' : ''),
  ),
  issuer: v.pipe(
    v.optional(v.pipe(v.string(), v.url('must be a URL (the exact "iss" value of the issuer)'))),
    v.description(SCHEMA_DOCS ? 'Only tokens from this issuer (exact `iss`) are this consumer; the same `sub` from another issuer is an unknown consumer.' : ''),
  ),
})

export const GatewaySettingsSchema = v.strictObject({
  name: v.optional(v.string(), 'edgeway'),
  plan: v.pipe(
    v.optional(v.picklist(['free', 'paid']), 'free'),
    v.description(SCHEMA_DOCS ? 'Workers plan: sets the subrequest budget checked at validation (50 or 10,000).' : ''),
  ),
  maxSubrequests: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  admin: v.optional(
    v.strictObject({
      prefix: v.optional(v.pipe(v.string(), v.regex(/^\/[A-Za-z0-9_.~-]+(\/[A-Za-z0-9_.~-]+)*$/, 'must be a path like "/_edgeway"')), '/_edgeway'),
      tokenSecret: v.pipe(v.optional(Name, 'ADMIN_TOKEN'), v.description(SCHEMA_DOCS ? 'Name of the Worker secret holding the admin bearer token.' : '')),
    }),
    {},
  ),
  log: v.optional(v.strictObject({ requests: v.optional(v.boolean(), true) }), {}),
  reload: v.pipe(
    v.optional(
      v.strictObject({
        kv: v.optional(Name, 'CONFIG_KV'),
        key: v.optional(v.string(), 'gateway.json'),
        refreshSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 30),
      }),
    ),
    v.description(SCHEMA_DOCS ? 'Hot reload: read a config from a KV key; a bad one is logged and the last good one kept.' : ''),
  ),
  metrics: v.optional(MetricsSettingsSchema, {}),
  openapi: v.pipe(v.optional(OpenApiSettingsSchema), v.description(SCHEMA_DOCS ? 'Serve an OpenAPI 3.1 document generated from the routes.' : '')),
  portal: v.pipe(v.optional(PortalSettingsSchema), v.description(SCHEMA_DOCS ? 'Serve the developer portal (static assets) that renders the OpenAPI document.' : '')),
})

export const GatewayConfigSchema = v.strictObject({
  $schema: v.optional(v.string()),
  gateway: v.optional(GatewaySettingsSchema, {}),
  versioning: v.optional(VersioningSchema),
  upstreams: v.optional(v.record(Name, UpstreamSchema), {}),
  consumers: v.pipe(v.optional(v.record(Name, ConsumerSchema), {}), v.description(SCHEMA_DOCS ? 'Known consumers by id (JWT `sub`/`client_id`, or an API key\'s owner).' : '')),
  plans: v.optional(v.record(Name, PlanSchema), {}),
  policies: v.pipe(
    v.optional(v.array(PolicySchema), [{ type: 'request-id' }]),
    v.description(SCHEMA_DOCS ? 'Global policies, run on every route (default: request-id).' : ''),
  ),
  routes: v.array(RouteSchema),
})

/** A config as written (defaults optional). */
export type GatewayConfigInput = v.InferInput<typeof GatewayConfigSchema>
/** A config after parsing (defaults filled in). */
export type GatewayConfig = v.InferOutput<typeof GatewayConfigSchema>
export type RouteConfig = GatewayConfig['routes'][number]
export type UpstreamConfig = GatewayConfig['upstreams'][string]
export type ActionConfig = RouteConfig['action']
export type MatchConfig = RouteConfig['match']
export type PolicyConfig = GatewayConfig['policies'][number]
