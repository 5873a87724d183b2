/**
 * @module
 * The JSON Schema of the gateway config, generated from the valibot schema (the single source).
 * `npm run schema` writes it to `edgeway.schema.json`; a test fails when the committed file is stale.
 * `projectJsonSchema` is the same schema for a project with custom policies and actions: it names
 * each registered `custom:<name>` type with its options, where the base schema allows any.
 */
import { toJsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import { CustomActionEntrySchema, CustomPolicyEntrySchema, type CustomAction, type CustomPolicy } from '../core/custom'
import { GatewayConfigSchema } from './schema'

type JsonSchema = Record<string, unknown>

// Checks that JSON Schema can't express (templates, regexes, cross-field rules) are left to the
// gateway's own validation (`npm run check:config`); the structure, keys and enums are all here.
const convert = (schema: v.GenericSchema) => toJsonSchema(schema, { errorMode: 'ignore', typeMode: 'input' }) as JsonSchema

export function gatewayJsonSchema(): JsonSchema {
  return {
    $id: 'https://github.com/edgeway/edgeway/edgeway.schema.json',
    title: 'Edgeway gateway config',
    ...convert(GatewayConfigSchema),
  }
}

/** One registered type: `type` is `custom:<name>`, the rest are its options (as its schema says, when that is an object). */
function customMember(name: string, definition: CustomPolicy | CustomAction): JsonSchema {
  const options = convert(definition.schema)
  const type = { const: `custom:${name}` }
  if (options.type !== 'object' || !options.properties) return { type: 'object', properties: { type }, required: ['type'] }
  const { $schema: _, ...rest } = options
  return { ...rest, properties: { type, ...(options.properties as object) }, required: ['type', ...((options.required as string[] | undefined) ?? [])] }
}

/** Replaces, anywhere in `node`, the `oneOf` (a variant) member `placeholder` with `members` (none: the member goes). */
function replaceMember(node: unknown, placeholder: string, members: JsonSchema[]): unknown {
  if (Array.isArray(node)) return node.map((item) => replaceMember(item, placeholder, members))
  if (!node || typeof node !== 'object') return node
  const out: JsonSchema = {}
  for (const [key, value] of Object.entries(node)) {
    out[key] =
      (key === 'oneOf' || key === 'anyOf') && Array.isArray(value)
        ? value.flatMap((member) => (JSON.stringify(member) === placeholder ? members : [replaceMember(member, placeholder, members)]))
        : replaceMember(value, placeholder, members)
  }
  return out
}

/**
 * The config's JSON Schema for a project: `custom:<name>` policies and actions are exactly the
 * registered ones, each with its options' schema (for the editor's completion and checks).
 */
export function projectJsonSchema(policies: Record<string, CustomPolicy> = {}, actions: Record<string, CustomAction> = {}): JsonSchema {
  const { $id: _, ...base } = gatewayJsonSchema()
  const policyMembers = Object.entries(policies).map(([name, definition]) => customMember(name, definition))
  const actionMembers = Object.entries(actions).map(([name, definition]) => customMember(name, definition))
  const placeholder = (schema: v.GenericSchema) => {
    const { $schema: _schema, ...member } = convert(schema)
    return JSON.stringify(member)
  }
  const withPolicies = replaceMember(base, placeholder(CustomPolicyEntrySchema), policyMembers)
  return { ...(replaceMember(withPolicies, placeholder(CustomActionEntrySchema), actionMembers) as JsonSchema), title: 'Edgeway gateway config, with the project\'s custom policies and actions' }
}
