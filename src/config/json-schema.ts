/**
 * @module
 * The JSON Schema of the gateway config, generated from the valibot schema (the single source).
 * `npm run schema` writes it to `edgeway.schema.json`; a test fails when the committed file is stale.
 */
import { toJsonSchema } from '@valibot/to-json-schema'
import { GatewayConfigSchema } from './schema'

export function gatewayJsonSchema(): Record<string, unknown> {
  // Checks that JSON Schema can't express (templates, regexes, cross-field rules) are left to the
  // gateway's own validation (`npm run check:config`); the structure, keys and enums are all here.
  const schema = toJsonSchema(GatewayConfigSchema, { errorMode: 'ignore', typeMode: 'input' }) as Record<string, unknown>
  return {
    $id: 'https://github.com/edgeway/edgeway/edgeway.schema.json',
    title: 'Edgeway gateway config',
    ...schema,
  }
}
