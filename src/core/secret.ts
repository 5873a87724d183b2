/**
 * @module
 * Config fields that hold secrets, marked in their schema so the admin API's `/config` redacts
 * exactly those (`config/redact.ts` walks the assembled schema alongside the config). The mark is
 * JSON Schema's own `writeOnly` annotation ("never returned when the instance is retrieved"), so
 * it also shows in `edgeway.schema.json`, where editors read it.
 *
 * What is marked: literal values the gateway sends as credentials (header values of the `headers`
 * and `transform` policies, of health checks and of aggregation calls). Names of Worker secrets
 * (`secret`, `keys[].secret`, `apiKeySecrets`, `tokenSecret`) are not secrets and stay visible.
 *
 * @example
 * set: v.optional(v.record(HeaderName, Secret(TemplateString)))
 */
import * as v from 'valibot'

/** `schema`, marked as holding a secret. */
export function Secret<TSchema extends v.GenericSchema>(schema: TSchema) {
  return v.pipe(schema, v.metadata({ writeOnly: true }))
}

/** Whether a schema (or a pipe it is built on) is marked by `Secret`. */
export function isSecret(schema: v.GenericSchema): boolean {
  return (v.getMetadata(schema as Parameters<typeof v.getMetadata>[0]) as { writeOnly?: unknown }).writeOnly === true
}
