/**
 * @module
 * Redacting a config for display (the admin API's `/config`): the config is walked alongside its
 * schema, and every value whose schema is marked `Secret` (`core/secret.ts`) is replaced. A field
 * the schema describes is shown or hidden by its mark alone, whatever its name (`maxTokenAge` is
 * shown, a header value `X-Upstream-Key` hidden). Where the schema says nothing about a value's
 * shape (free-form `metadata`, a JSON body, a key the schema doesn't know) the old rule still
 * holds: a secret-sounding key hides its whole value.
 */
import * as v from 'valibot'
import { isSecret } from '../core/secret'

export const REDACTED = '[redacted]'

/** Keys that sound secret, for free-form values only. Header names too (`Authorization`). */
const SECRET_KEY = /(secret|token|password|passphrase|credential|private|authorization|api[-_]?key|cookie|signature)/i

/** The parts of valibot's schema objects the walk reads. */
type SchemaNode = v.GenericSchema & {
  type: string
  wrapped?: SchemaNode
  entries?: Record<string, SchemaNode>
  rest?: SchemaNode
  item?: SchemaNode
  value?: SchemaNode
  key?: string | SchemaNode
  options?: SchemaNode[]
  getter?: (input: unknown) => SchemaNode
}

const WRAPPERS = new Set(['optional', 'nullable', 'nullish', 'exact_optional', 'undefinedable', 'non_optional', 'non_nullable', 'non_nullish'])
const OBJECTS = new Set(['object', 'strict_object', 'loose_object', 'object_with_rest'])

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * A free-form value: a list or an object under a secret-sounding key may hold secrets under any
 * key (`credentials: { user, pass }`), so it goes whole. Only a boolean or null stays visible.
 */
export function redactFreeForm(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && value !== null && typeof value !== 'boolean') return REDACTED
  if (Array.isArray(value)) return value.map((item) => redactFreeForm(item))
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, item]) => [k, redactFreeForm(item, k)]))
  return value
}

/** The option of a union or variant that describes `value`, if one does. */
function optionFor(schema: SchemaNode, value: unknown): SchemaNode | undefined {
  const options = schema.options ?? []
  if (schema.type === 'variant' && typeof schema.key === 'string' && isRecord(value)) {
    const key = schema.key
    const matches = (option: SchemaNode): boolean =>
      option.type === 'variant' ? (option.options ?? []).some(matches) : option.entries?.[key] !== undefined && v.is(option.entries[key]!, value[key])
    return options.find(matches)
  }
  return options.find((option) => v.is(option, value))
}

/** A copy of `value` with every part marked secret by `schema` replaced by `[redacted]`. */
export function redactBySchema(schema: v.GenericSchema, value: unknown, key = ''): unknown {
  const node = schema as SchemaNode
  if (value === undefined || value === null) return value
  if (isSecret(node)) return REDACTED
  if (WRAPPERS.has(node.type)) return redactBySchema(node.wrapped!, value, key)
  if (node.type === 'lazy') return redactBySchema(node.getter!(value), value, key)
  if (node.type === 'unknown' || node.type === 'any') return redactFreeForm(value, key)
  if (OBJECTS.has(node.type) && isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, item]) => {
        const entry = node.entries?.[k] ?? node.rest
        return [k, entry ? redactBySchema(entry, item, k) : redactFreeForm(item, k)]
      }),
    )
  }
  if (node.type === 'record' && isRecord(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, item]) => [k, redactBySchema(node.value!, item, k)]))
  }
  if (node.type === 'array' && Array.isArray(value)) return value.map((item) => redactBySchema(node.item!, item))
  if (node.type === 'union' || node.type === 'variant') {
    const option = optionFor(node, value)
    return option ? redactBySchema(option, value, key) : redactFreeForm(value, key)
  }
  // A primitive the schema describes is shown; any other shape it can't follow is free-form.
  return typeof value === 'object' ? redactFreeForm(value, key) : value
}
