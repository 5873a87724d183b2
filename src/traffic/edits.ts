/**
 * @module
 * Name/value edits, the one implementation behind header edits and query edits: rename, remove,
 * set, add, in that order (so a rename frees the old name for a `set`). Values are templates.
 * Headers and URLSearchParams are both multimaps; each side brings a small adapter.
 */
import { checkTemplate } from '../template/check'
import { compileTemplate, type Template } from '../template/template'

export type EditsConfig = {
  rename?: Record<string, string> | undefined
  remove?: string[] | undefined
  set?: Record<string, string> | undefined
  add?: Record<string, string> | undefined
}

export type CompiledEdits = {
  rename: [string, string][]
  remove: string[]
  set: [string, Template][]
  add: [string, Template][]
}

/** What an edit needs of a multimap (Headers and URLSearchParams both fit, with `getAll`). */
export type Multimap = {
  getAll(name: string): string[]
  has(name: string): boolean
  delete(name: string): void
  set(name: string, value: string): void
  append(name: string, value: string): void
}

export function compileEdits(edits: EditsConfig | undefined): CompiledEdits | undefined {
  if (!edits) return undefined
  const compile = (record: Record<string, string> | undefined) =>
    Object.entries(record ?? {}).map(([name, source]) => [name, compileTemplate(source)] as [string, Template])
  return { rename: Object.entries(edits.rename ?? {}), remove: edits.remove ?? [], set: compile(edits.set), add: compile(edits.add) }
}

/** Applies the edits; `encode` cleans each rendered value. Returns whether anything changed. */
export function applyEdits(map: Multimap, edits: CompiledEdits, scope: unknown, encode: (value: string) => string): boolean {
  let changed = false
  for (const [from, to] of edits.rename) {
    const values = map.getAll(from)
    if (values.length === 0) continue
    map.delete(from)
    map.delete(to)
    for (const value of values) map.append(to, value)
    changed = true
  }
  for (const name of edits.remove) {
    if (!map.has(name)) continue
    map.delete(name)
    changed = true
  }
  for (const [name, template] of edits.set) map.set(name, encode(template.render(scope)))
  for (const [name, template] of edits.add) map.append(name, encode(template.render(scope)))
  return changed || edits.set.length > 0 || edits.add.length > 0
}

/** Reports unknown template variables in `set` and `add` (at `<field>.set.<name>`). */
export function checkEdits(
  edits: EditsConfig | undefined,
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
