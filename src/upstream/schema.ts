/**
 * @module
 * Config schema of upstream pools and their resilience: targets and weights, balancing, sticky
 * sessions, active and passive health, circuit breaking, retries, fallback, and the proxy action's
 * canary split and mirror. Structure only; cross-field checks are in `./checks`.
 * Everything here is opt-in: an upstream written as `{ "url": ... }` behaves exactly as before.
 */
import * as v from 'valibot'
import { HTTP_METHODS } from '../routing/methods'
import { HeaderName, Milliseconds, Name } from '../core/schema'
import { TemplateString } from '../template/schema'

const Int = (min: number, max: number) => v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(min), v.maxValue(max))
const Percent = v.pipe(v.number(), v.minValue(0), v.maxValue(100))
const ErrorStatuses = v.pipe(v.array(Int(500, 599)), v.minLength(1))
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"

/** Where an affinity key comes from: `consumer`, `ip`, `header:<name>` or `cookie:<name>`. */
export const KeySource = v.pipe(
  v.string(),
  v.regex(new RegExp(`^(consumer|ip|header:${TOKEN}|cookie:${TOKEN})$`), 'must be "consumer", "ip", "header:<name>" or "cookie:<name>"'),
)

export const TargetSchema = v.pipe(
  v.strictObject({
    url: v.pipe(v.optional(v.string()), v.description(SCHEMA_DOCS ? 'Target base URL; `${VAR}` is replaced by a Worker variable.' : '')),
    service: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Name of a service binding to another Worker.' : '')),
    weight: v.pipe(v.optional(Int(0, 1000), 1), v.description(SCHEMA_DOCS ? 'Relative share; 0 drains.' : '')),
    id: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Stable target name (default: its position).' : '')),
  }),
  v.check((t) => (t.url === undefined) !== (t.service === undefined), 'set exactly one of "url" or "service"'),
)

export const BalanceSchema = v.pipe(
  v.optional(v.picklist(['round-robin', 'weighted-random', 'least-requests', 'hash']), 'round-robin'),
  v.description(SCHEMA_DOCS ? 'round-robin (weighted), weighted-random, least-requests, or hash (on `hashOn`).' : ''),
)

export const StickySchema = v.strictObject({
  cookie: v.pipe(v.optional(v.pipe(v.string(), v.regex(new RegExp(`^${TOKEN}$`), 'must be a valid cookie name'))), v.description(SCHEMA_DOCS ? 'Cookie name (default `edgeway-<upstream>`).' : '')),
  duration: v.pipe(v.optional(Int(1, 604_800), 86_400), v.description(SCHEMA_DOCS ? 'Cookie lifetime in seconds.' : '')),
})

export const HealthCheckSchema = v.strictObject({
  path: v.optional(v.pipe(v.string(), v.startsWith('/', 'must start with "/"')), '/health'),
  interval: v.pipe(v.optional(v.pipe(Milliseconds, v.minValue(1000, 'must be at least 1000 ms')), 10_000), v.description(SCHEMA_DOCS ? 'Time between two probes of each target.' : '')),
  timeout: v.pipe(v.optional(Milliseconds, 2_000), v.description(SCHEMA_DOCS ? 'A probe slower than this fails.' : '')),
  healthyThreshold: v.pipe(v.optional(Int(1, 10), 2), v.description(SCHEMA_DOCS ? 'Passed probes in a row to return.' : '')),
  unhealthyThreshold: v.pipe(v.optional(Int(1, 10), 2), v.description(SCHEMA_DOCS ? 'Failed probes in a row to eject.' : '')),
  cacheMs: v.pipe(v.optional(Milliseconds, 5_000), v.description(SCHEMA_DOCS ? 'How long an isolate caches the shared state.' : '')),
  binding: v.pipe(v.optional(Name, 'HEALTH_CHECKER'), v.description(SCHEMA_DOCS ? 'The HealthChecker Durable Object binding.' : '')),
})

export const PassiveHealthSchema = v.strictObject({
  failures: v.pipe(v.optional(Int(1, 100), 5), v.description(SCHEMA_DOCS ? 'Failures in a row that eject a target.' : '')),
  statuses: v.optional(ErrorStatuses, [500, 502, 503, 504]),
  ejectMs: v.pipe(v.optional(Milliseconds, 30_000), v.description(SCHEMA_DOCS ? 'First cool-off; doubles on each repeated ejection.' : '')),
  maxEjectMs: v.optional(Milliseconds, 300_000),
})

export const CircuitBreakerSchema = v.strictObject({
  failures: v.pipe(v.optional(Int(1, 1000)), v.description(SCHEMA_DOCS ? 'Consecutive failures that open the circuit.' : '')),
  errorRatio: v.pipe(v.optional(v.pipe(v.number(), v.minValue(0.01), v.maxValue(1))), v.description(SCHEMA_DOCS ? 'Failed share of requests in `window` that opens it.' : '')),
  window: v.optional(Milliseconds, 10_000),
  minRequests: v.pipe(v.optional(Int(1, 100_000), 10), v.description(SCHEMA_DOCS ? 'Requests in the window before `errorRatio` applies.' : '')),
  openMs: v.pipe(v.optional(Milliseconds, 30_000), v.description(SCHEMA_DOCS ? 'Time open before half-open probes are let through.' : '')),
  halfOpenRequests: v.pipe(v.optional(Int(1, 100), 1), v.description(SCHEMA_DOCS ? 'Probes let through while half-open.' : '')),
  statuses: v.optional(ErrorStatuses, [500, 502, 503, 504]),
  whenOpen: v.pipe(v.optional(v.picklist(['failover', 'fail-fast']), 'failover'), v.description(SCHEMA_DOCS ? 'Send to another target, or answer 503 at once.' : '')),
})

export const RetrySchema = v.strictObject({
  attempts: v.pipe(v.optional(Int(0, 5), 2), v.description(SCHEMA_DOCS ? 'Retries after the first try (each is a subrequest).' : '')),
  methods: v.pipe(v.optional(v.array(v.picklist(HTTP_METHODS)), ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']), v.description(SCHEMA_DOCS ? 'Default: idempotent methods.' : '')),
  statuses: v.optional(v.array(Int(500, 599)), [502, 503, 504]),
  onTimeout: v.optional(v.boolean(), true),
  onConnectionError: v.optional(v.boolean(), true),
  backoff: v.optional(
    v.strictObject({
      base: v.pipe(v.optional(Milliseconds, 25), v.description(SCHEMA_DOCS ? 'Full jitter under base * 2^(n-1).' : '')),
      max: v.optional(Milliseconds, 1_000),
    }),
    {},
  ),
  budget: v.pipe(
    v.optional(
      v.strictObject({
        percent: v.pipe(v.optional(Percent, 20), v.description(SCHEMA_DOCS ? 'Retries may add at most this share of extra load.' : '')),
        minRetries: v.pipe(v.optional(Int(0, 1000), 3), v.description(SCHEMA_DOCS ? 'Retries always allowed per window.' : '')),
        window: v.optional(Milliseconds, 10_000),
      }),
      {},
    ),
    v.description(SCHEMA_DOCS ? 'Per isolate, against retry storms.' : ''),
  ),
  bodyLimit: v.pipe(v.optional(Int(0, 1_048_576), 65_536), v.description(SCHEMA_DOCS ? 'Largest body (with a Content-Length) buffered for replay.' : '')),
})

export const FallbackSchema = v.pipe(
  v.strictObject({
    upstream: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Upstream to call when this one fails.' : '')),
    status: v.optional(Int(200, 599)),
    headers: v.optional(v.record(HeaderName, v.string())),
    body: v.pipe(v.optional(v.unknown()), v.description(SCHEMA_DOCS ? 'A string or a JSON value.' : '')),
  }),
  v.check((f) => (f.upstream === undefined) !== (f.status === undefined), 'set exactly one of "upstream" or "status"'),
)

/** Hedged requests on a proxy route or an aggregation call (`./hedge`). */
export const HedgeSchema = v.pipe(
  v.strictObject({
    after: v.pipe(
      v.number(),
      v.integer('must be whole milliseconds'),
      v.minValue(1, 'must be above 0 ms'),
      v.maxValue(60_000, 'must be at most 60000 ms'),
      v.description(SCHEMA_DOCS ? 'How long the first try may go unanswered before a hedge is sent (ms).' : ''),
    ),
    max: v.pipe(
      v.optional(v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be at least 1'), v.maxValue(3, 'must be at most 3')), 1),
      v.description(SCHEMA_DOCS ? 'Hedges per call (1-3), each `after` ms after the last; each is a subrequest and takes a retry from the budget.' : ''),
    ),
  }),
  v.description(SCHEMA_DOCS ? 'Hedged requests: when the first try is slow, send another (idempotent methods only); the first good answer wins.' : ''),
)

/** Keys the proxy action gains: canary splits and mirroring. */
export const SplitSchema = v.pipe(
  v.array(v.strictObject({ upstream: Name, weight: v.pipe(Percent, v.description(SCHEMA_DOCS ? 'Percent of requests sent to this upstream.' : '')) })),
  v.description(SCHEMA_DOCS ? 'Canary: percent of requests to other upstreams.' : ''),
)

export const MirrorSchema = v.strictObject({
  upstream: Name,
  percent: v.optional(Percent, 100),
  bodyLimit: v.pipe(v.optional(Int(0, 1_048_576), 65_536), v.description(SCHEMA_DOCS ? 'Larger or unsized bodies are not mirrored.' : '')),
})

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

export const ProxyActionSchema = v.strictObject({
  type: v.literal('proxy'),
  upstream: Name,
  path: v.pipe(v.optional(TemplateString), v.description(SCHEMA_DOCS ? 'Rewrite template for the upstream path: `/v2/users/{params.id}`.' : '')),
  stripPrefix: v.pipe(v.optional(v.pipe(v.string(), v.startsWith('/'))), v.description(SCHEMA_DOCS ? 'Removed from the start of the path.' : '')),
  websocket: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Let WebSocket upgrades through this route.' : '')),
  split: v.optional(SplitSchema),
  pinBy: v.pipe(v.optional(KeySource), v.description(SCHEMA_DOCS ? 'Pins a client to one side of `split`.' : '')),
  mirror: v.pipe(v.optional(MirrorSchema), v.description(SCHEMA_DOCS ? 'Shadow traffic, in waitUntil.' : '')),
  hedge: v.optional(HedgeSchema),
})

export type UpstreamConfig = v.InferOutput<typeof UpstreamSchema>
export type ProxyActionConfig = v.InferOutput<typeof ProxyActionSchema>

/**
 * The config's upstreams, typed. Features see the config through `core/config-view`, where this
 * section is opaque; `config/` has validated every entry with `UpstreamSchema`.
 */
export function upstreamConfigs(config: { readonly upstreams: Readonly<Record<string, unknown>> }): Readonly<Record<string, UpstreamConfig>> {
  return config.upstreams as Readonly<Record<string, UpstreamConfig>>
}
