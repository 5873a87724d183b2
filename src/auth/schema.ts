/**
 * @module
 * Config schema of authentication: the known consumers (`consumers.<id>`), whom API keys and
 * tokens resolve to, and the options of the `api-key` and `jwt` policies (an issuer's own
 * options are `IssuerSchema`, in `./issuer`).
 */
import * as v from 'valibot'
import { HeaderName, Name } from '../core/schema'
import { PathString } from '../template/schema'
import { IssuerSchema } from './issuer'

export const ConsumerSchema = v.strictObject({
  plan: v.optional(Name),
  metadata: v.pipe(v.optional(v.record(v.string(), v.unknown())), v.description(SCHEMA_DOCS ? 'Free-form; readable in templates as `consumer.metadata`.' : '')),
  groups: v.pipe(v.optional(v.array(Name)), v.description(SCHEMA_DOCS ? 'Groups the consumer belongs to, for `acl` policies.' : '')),
  apiKeySecrets: v.pipe(
    v.optional(v.array(Name)),
    v.description(SCHEMA_DOCS ? 'Names of Worker secrets, each holding the hex SHA-256 of one of this consumer\'s API keys (for the `api-key` policy).' : ''),
  ),
  issuer: v.pipe(
    v.optional(v.pipe(v.string(), v.url('must be a URL (the exact "iss" value of the issuer)'))),
    v.description(SCHEMA_DOCS ? 'Only tokens from this issuer (exact `iss`) are this consumer; the same `sub` from another issuer is an unknown consumer.' : ''),
  ),
})

/** The `api-key` policy's options. */
export const ApiKeyOptionsSchema = v.strictObject({
  type: v.literal('api-key'),
  header: v.pipe(v.optional(HeaderName, 'X-API-Key'), v.description(SCHEMA_DOCS ? 'Header carrying the key.' : '')),
  query: v.pipe(v.optional(v.pipe(v.string(), v.minLength(1))), v.description(SCHEMA_DOCS ? 'Query parameter carrying the key (tried after the header).' : '')),
  kv: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'KV namespace binding holding keys created through the admin API.' : '')),
  hideCredentials: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Remove the key from the request to the origin.' : '')),
  maxBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(4_096)), 256), v.description(SCHEMA_DOCS ? 'Longer keys are rejected unhashed.' : '')),
})

export type ApiKeyOptions = v.InferOutput<typeof ApiKeyOptionsSchema>

/** The `jwt` policy's options. */
export const JwtOptionsSchema = v.strictObject({
  type: v.literal('jwt'),
  issuers: v.pipe(v.array(IssuerSchema), v.minLength(1, 'needs at least one issuer')),
  token: v.optional(
    v.strictObject({
      header: v.pipe(v.optional(HeaderName, 'Authorization'), v.description(SCHEMA_DOCS ? 'Header carrying the token (`Authorization` means `Bearer <token>`).' : '')),
      cookie: v.pipe(v.optional(v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid cookie name'))), v.description(SCHEMA_DOCS ? 'Cookie carrying the token when the header is absent.' : '')),
      maxBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(256), v.maxValue(16_384)), 8_192), v.description(SCHEMA_DOCS ? 'Longer tokens are rejected before any crypto.' : '')),
    }),
    {},
  ),
  scopes: v.pipe(v.optional(v.array(v.pipe(v.string(), v.regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a valid scope token')))), v.description(SCHEMA_DOCS ? 'Scopes the token must carry (`scope` or `scp` claim).' : '')),
  scopesMatch: v.pipe(v.optional(v.picklist(['all', 'any']), 'all'), v.description(SCHEMA_DOCS ? 'Whether every scope is needed, or any one.' : '')),
  forwardClaims: v.pipe(v.optional(v.record(HeaderName, PathString), {}), v.description(SCHEMA_DOCS ? 'Header -> claim path, sent to the origin (`{ "X-User-Id": "sub" }`).' : '')),
  removeAuthorization: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Do not send the `Authorization` header to the origin.' : '')),
  requireConsumer: v.pipe(
    v.optional(v.boolean(), true),
    v.description(
      SCHEMA_DOCS ? 'Refuse (401) a token without the claim naming its consumer (`consumerClaim`, else `sub`, else `client_id`); false lets it through with no consumer.' : '',
    ),
  ),
})

export type JwtOptions = v.InferOutput<typeof JwtOptionsSchema>
