/**
 * @module
 * JSON Schema (2020-12) validation for the `validate` policy, through @cfworker/json-schema (no
 * `eval`, so it runs on Workers). The library is loaded with `import()` on the first validation,
 * so isolates whose routes validate nothing never evaluate it (wrangler still bundles it into the
 * one script: its ~6 KiB gzip are paid by every deployment).
 *
 * Errors are reduced to what a client can act on: one entry per failing value, as a JSON Pointer
 * into the validated document (`/items/0/qty`), without the chain of "property does not match"
 * entries that lead to it.
 */
import type { Validator } from '@cfworker/json-schema'
import { regexProblem } from '../core/regex'

export type JsonSchema = Record<string, unknown> | boolean

export type ValidationIssue = { in: 'body' | 'query' | 'headers' | 'response'; path: string; message: string }

/** The most issues listed in one response; the rest are counted. */
export const MAX_ISSUES = 20

/** Applicators whose own error only says that a subschema failed: the subschema's error is kept. */
const WRAPPERS = new Set(['properties', 'items', 'prefixItems', 'additionalProperties', 'patternProperties', 'allOf', '$ref', '$dynamicRef', 'dependentSchemas', 'if', 'then', 'else', 'unevaluatedProperties', 'unevaluatedItems', 'propertyNames'])

/** Per isolate: the validator library, imported on first use (a module, the same for every config). */
let library: Promise<typeof import('@cfworker/json-schema')> | undefined

/** A validator built on first use and kept (per policy, per isolate). */
export function lazyValidator(schema: JsonSchema): () => Promise<Validator> {
  let built: Validator | undefined
  return async () => {
    if (built) return built
    const { Validator } = await (library ??= import('@cfworker/json-schema'))
    // A copy: the library marks the schema it is given (`__absolute_uri__`), and a config's parts
    // are frozen and may be shared by routes (`config/shared-parts.ts`).
    return (built = new Validator(structuredClone(schema) as never, '2020-12', false))
  }
}

const escapeToken = (name: string) => name.replaceAll('~', '~0').replaceAll('/', '~1')

/** Validates `value`; returns the issues (empty when valid). */
export function issuesOf(validator: Validator, value: unknown, where: ValidationIssue['in']): ValidationIssue[] {
  const result = validator.validate(value)
  if (result.valid) return []
  const issues: ValidationIssue[] = []
  for (const unit of result.errors) {
    // Branches of anyOf/oneOf/not: the combinator's own error says it better than each branch.
    if (WRAPPERS.has(unit.keyword) || /\/(anyOf|oneOf|not)\//.test(unit.keywordLocation)) continue
    let path = unit.instanceLocation.replace(/^#/, '')
    let message = unit.error
    if (unit.keyword === 'required') {
      const name = /property "(.*)"\.?$/.exec(unit.error)?.[1]
      if (name !== undefined) [path, message] = [`${path}/${escapeToken(name)}`, 'is required']
    } else if (unit.keyword === 'false') message = 'is not allowed'
    if (!issues.some((i) => i.path === path && i.message === message)) issues.push({ in: where, path, message })
  }
  return issues
}

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'])
const SUBSCHEMA = ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties']
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems']
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']

/**
 * Config-time checks of a schema, without loading the validator: the mistakes that would otherwise
 * show up only as every request failing (a misspelt type, a remote `$ref`, a broken pattern).
 */
export function checkJsonSchema(schema: unknown, at: string, error: (field: string, message: string) => void, depth = 0): void {
  if (typeof schema === 'boolean') return
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return error(at, 'must be a JSON Schema (an object or a boolean)')
  if (depth > 32) return error(at, 'is nested too deeply (at most 32 levels)')
  const s = schema as Record<string, unknown>
  for (const type of [s.type ?? []].flat()) {
    if (typeof type !== 'string' || !TYPES.has(type)) error(`${at}.type`, `unknown type ${JSON.stringify(type)} (known: ${[...TYPES].join(', ')})`)
  }
  if (s.$ref !== undefined && (typeof s.$ref !== 'string' || !s.$ref.startsWith('#'))) {
    error(`${at}.$ref`, 'only references inside the schema ("#/$defs/item") are supported: the gateway fetches no schemas')
  }
  if (s.required !== undefined && !(Array.isArray(s.required) && s.required.every((r) => typeof r === 'string'))) error(`${at}.required`, 'must be a list of property names')
  // Patterns run on request values: they must compile (as the validator compiles them, with `u`) and be safe.
  if (s.pattern !== undefined) {
    const problem = typeof s.pattern === 'string' ? regexProblem(s.pattern, 'u') : 'must be a string'
    if (problem) error(`${at}.pattern`, problem)
  }
  if (s.patternProperties !== null && typeof s.patternProperties === 'object') {
    for (const key of Object.keys(s.patternProperties)) {
      const problem = regexProblem(key, 'u')
      if (problem) error(`${at}.patternProperties`, problem)
    }
  }
  for (const key of SUBSCHEMA) if (s[key] !== undefined) checkJsonSchema(s[key], `${at}.${key}`, error, depth + 1)
  for (const key of SUBSCHEMA_LISTS) {
    if (s[key] === undefined) continue
    if (!Array.isArray(s[key])) error(`${at}.${key}`, 'must be a list of schemas')
    else (s[key] as unknown[]).forEach((sub, i) => checkJsonSchema(sub, `${at}.${key}[${i}]`, error, depth + 1))
  }
  for (const key of SUBSCHEMA_MAPS) {
    const map = s[key]
    if (map === undefined) continue
    if (map === null || typeof map !== 'object' || Array.isArray(map)) error(`${at}.${key}`, 'must be an object of schemas')
    else for (const [name, sub] of Object.entries(map)) checkJsonSchema(sub, `${at}.${key}${/^[A-Za-z_$][\w$-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`}`, error, depth + 1)
  }
}
