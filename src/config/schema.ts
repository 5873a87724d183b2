/**
 * @module
 * The gateway config schema: the single source of the config's TypeScript types, its runtime
 * validation and the generated JSON Schema (`edgeway.schema.json`, `npm run schema`).
 * Structure lives here; checks that span fields (references, budgets, deadlines) are in `./parse`.
 * Each section's schema lives with the feature that owns it; this file puts them together.
 * Every object is strict: an unknown key is an error, so a typo never passes silently.
 */
import * as v from 'valibot'
import { AggregateActionSchema } from '../aggregate/schema'
import { ConsumerSchema } from '../auth/schema'
import { ConsumerStoreSchema } from '../auth/consumer-store'
import type { ConfigView } from '../core/config-view'
import { CustomActionEntrySchema } from '../core/custom'
import { Milliseconds, Name } from '../core/schema'
import { MetricsSettingsSchema } from '../observability/schema'
import { OpenApiSettingsSchema, PortalSettingsSchema } from '../openapi/schema'
import { PortalSignInSchema } from '../auth/portal-schema'
import { PlanSchema } from '../rate-limit/schema'
import { RedirectActionSchema, RespondActionSchema } from '../routing/respond'
import { MatchSchema, VersioningSchema } from '../routing/schema'
import { ProxyActionSchema, UpstreamSchema } from '../upstream/schema'
import { PolicySchema } from './policies'

export const ActionSchema = v.variant('type', [ProxyActionSchema, RespondActionSchema, RedirectActionSchema, AggregateActionSchema, CustomActionEntrySchema])

export const RouteSchema = v.strictObject({
  id: Name,
  description: v.optional(v.string()),
  version: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'The API version this route belongs to (see `versioning`).' : '')),
  match: MatchSchema,
  policies: v.optional(v.array(PolicySchema), []),
  deadline: v.pipe(v.optional(Milliseconds), v.description(SCHEMA_DOCS ? 'Total time for the route; must cover what it contains.' : '')),
  action: ActionSchema,
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
        fallback: v.pipe(
          v.optional(v.picklist(['unavailable', 'bundled']), 'unavailable'),
          v.description(
            SCHEMA_DOCS
              ? 'What an isolate that has no good config from KV does (no record, an unreadable or invalid one): answer 503 ERR_CONFIG_UNAVAILABLE, or run the bundled config.'
              : '',
          ),
        ),
      }),
    ),
    v.description(
      SCHEMA_DOCS ? 'Hot reload: run the config record `npm run reload` writes to a KV key; a bad one is logged and the last good one kept.' : '',
    ),
  ),
  metrics: v.optional(MetricsSettingsSchema, {}),
  consumerStore: v.pipe(v.optional(ConsumerStoreSchema), v.description(SCHEMA_DOCS ? 'Consumers kept in KV and managed through the admin API (`/consumers`), beside `consumers`.' : '')),
  openapi: v.pipe(v.optional(OpenApiSettingsSchema), v.description(SCHEMA_DOCS ? 'Serve an OpenAPI 3.1 document generated from the routes.' : '')),
  portal: v.pipe(
    v.optional(v.strictObject({ ...PortalSettingsSchema.entries, signIn: v.pipe(v.optional(PortalSignInSchema), v.description(SCHEMA_DOCS ? 'Developers sign in (OpenID Connect) and manage their own API keys.' : '')) })),
    v.description(SCHEMA_DOCS ? 'Serve the developer portal (static assets) that renders the OpenAPI document.' : ''),
  ),
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

// The views features read the config through (core/config-view) must fit what is assembled here.
type Fits<T extends ConfigView> = T
export type CheckedConfigView = Fits<GatewayConfig>
