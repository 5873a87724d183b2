/**
 * @module
 * Query parameter edits on the upstream request (see `./edits`). The query string is parsed,
 * edited and re-serialised only when an edit changed something, so a request the edits don't
 * touch reaches the origin byte for byte (re-serialising would turn `%20` into `+`).
 */
import * as v from 'valibot'
import { TemplateString } from '../template/schema'
import { applyEdits, type CompiledEdits } from './edits'

export { checkEdits as checkQueryEdits, compileEdits as compileQueryEdits } from './edits'

const ParamName = v.pipe(v.string(), v.minLength(1, 'must not be empty'))

export const QueryEditsSchema = v.strictObject({
  rename: v.optional(v.record(ParamName, ParamName)),
  remove: v.optional(v.array(ParamName)),
  set: v.pipe(v.optional(v.record(ParamName, TemplateString)), v.description(SCHEMA_DOCS ? 'Replaces every value of the parameter.' : '')),
  add: v.pipe(v.optional(v.record(ParamName, TemplateString)), v.description(SCHEMA_DOCS ? 'Appends a value.' : '')),
})
export type QueryEditsConfig = v.InferOutput<typeof QueryEditsSchema>

/** Returns the edited query string (`?a=1` or empty), or `search` itself when nothing changed. */
export function applyQueryEdits(search: string, edits: CompiledEdits, scope: unknown): string {
  const params = new URLSearchParams(search)
  if (!applyEdits(params, edits, scope, (value) => value)) return search
  const out = params.toString()
  return out ? `?${out}` : ''
}
