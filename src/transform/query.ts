/**
 * @module
 * Query parameter edits on the upstream request: rename, remove, set, add (that order). The query
 * string is parsed, edited and re-serialised only when an edit changed something, so a request the
 * edits don't touch reaches the origin byte for byte (re-serialising would turn `%20` into `+`).
 */
import * as v from 'valibot'
import { TemplateString } from '../config/common'
import { checkTemplate } from '../template/check'
import { compileTemplate, type Template } from '../template/template'

const ParamName = v.pipe(v.string(), v.minLength(1, 'must not be empty'))

export const QueryEditsSchema = v.strictObject({
  rename: v.optional(v.record(ParamName, ParamName)),
  remove: v.optional(v.array(ParamName)),
  set: v.pipe(v.optional(v.record(ParamName, TemplateString)), v.description(SCHEMA_DOCS ? 'Replaces every value of the parameter.' : '')),
  add: v.pipe(v.optional(v.record(ParamName, TemplateString)), v.description(SCHEMA_DOCS ? 'Appends a value.' : '')),
})
export type QueryEditsConfig = v.InferOutput<typeof QueryEditsSchema>

export type CompiledQueryEdits = {
  rename: [string, string][]
  remove: string[]
  set: [string, Template][]
  add: [string, Template][]
}

export function compileQueryEdits(edits: QueryEditsConfig | undefined): CompiledQueryEdits | undefined {
  if (!edits) return undefined
  const compile = (record: Record<string, string> | undefined) =>
    Object.entries(record ?? {}).map(([name, source]) => [name, compileTemplate(source)] as [string, Template])
  return { rename: Object.entries(edits.rename ?? {}), remove: edits.remove ?? [], set: compile(edits.set), add: compile(edits.add) }
}

/** Returns the edited query string (`?a=1` or empty), or `search` itself when nothing changed. */
export function applyQueryEdits(search: string, edits: CompiledQueryEdits, scope: unknown): string {
  const params = new URLSearchParams(search)
  let changed = false
  for (const [from, to] of edits.rename) {
    const values = params.getAll(from)
    if (values.length === 0) continue
    params.delete(from)
    params.delete(to)
    for (const value of values) params.append(to, value)
    changed = true
  }
  for (const name of edits.remove) {
    if (!params.has(name)) continue
    params.delete(name)
    changed = true
  }
  for (const [name, template] of edits.set) {
    params.set(name, template.render(scope))
    changed = true
  }
  for (const [name, template] of edits.add) {
    params.append(name, template.render(scope))
    changed = true
  }
  if (!changed) return search
  const out = params.toString()
  return out ? `?${out}` : ''
}

export function checkQueryEdits(
  edits: QueryEditsConfig | undefined,
  field: string,
  roots: readonly string[],
  params: readonly string[] | undefined,
  error: (field: string, message: string) => void,
): void {
  for (const mode of ['set', 'add'] as const) {
    for (const [name, source] of Object.entries(edits?.[mode] ?? {})) {
      const problem = checkTemplate(source, roots, params)
      if (problem) error(`${field}.${mode}.${name}`, problem)
    }
  }
}
