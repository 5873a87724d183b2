/**
 * @module
 * Config schema of what authentication owns beyond its policies: the known consumers
 * (`consumers.<id>`), whom API keys and tokens resolve to.
 */
import * as v from 'valibot'
import { HeaderName, Name } from '../core/schema'

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
