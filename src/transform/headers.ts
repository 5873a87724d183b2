/**
 * @module
 * Header edits, the one implementation behind the `headers` policy and the `transform` policy's
 * header steps: rename, remove, set, add, in that order (so a rename frees the old name for a
 * `set`). Values are templates; CR, LF and NUL in rendered values are replaced, so a template
 * can't inject a header. A value whose template reads nothing present renders as its fallback or
 * as an empty string (the template engine's rule), never an error.
 */
import * as v from 'valibot'
import { HeaderName, TemplateString } from '../config/common'
import { checkTemplate } from '../template/check'
import { compileTemplate, encodeHeaderValue, type Template } from '../template/template'

export const HeaderEditsSchema = v.strictObject({
  rename: v.pipe(v.optional(v.record(HeaderName, HeaderName)), v.description(SCHEMA_DOCS ? 'Old name -> new name; values move, all of them.' : '')),
  remove: v.optional(v.array(HeaderName)),
  set: v.optional(v.record(HeaderName, TemplateString)),
  add: v.optional(v.record(HeaderName, TemplateString)),
})
export type HeaderEditsConfig = v.InferOutput<typeof HeaderEditsSchema>

export type CompiledHeaderEdits = {
  rename: [string, string][]
  remove: string[]
  set: [string, Template][]
  add: [string, Template][]
}

export function compileHeaderEdits(edits: HeaderEditsConfig | undefined): CompiledHeaderEdits | undefined {
  if (!edits) return undefined
  const compile = (record: Record<string, string> | undefined) =>
    Object.entries(record ?? {}).map(([name, source]) => [name, compileTemplate(source)] as [string, Template])
  return { rename: Object.entries(edits.rename ?? {}), remove: edits.remove ?? [], set: compile(edits.set), add: compile(edits.add) }
}

export function applyHeaderEdits(headers: Headers, edits: CompiledHeaderEdits, scope: unknown): void {
  for (const [from, to] of edits.rename) {
    // `Set-Cookie` is the one header that `get` would merge wrongly, so move its values one by one.
    const values = from.toLowerCase() === 'set-cookie' ? (headers as Headers & { getSetCookie(): string[] }).getSetCookie() : [headers.get(from)].filter((x) => x !== null)
    if (values.length === 0) continue
    headers.delete(from)
    headers.delete(to)
    for (const value of values) headers.append(to, value)
  }
  for (const name of edits.remove) headers.delete(name)
  for (const [name, template] of edits.set) headers.set(name, encodeHeaderValue(template.render(scope)))
  for (const [name, template] of edits.add) headers.append(name, encodeHeaderValue(template.render(scope)))
}

/** Reports unknown template variables in `set` and `add` (at `<field>.set.<name>`). */
export function checkHeaderEdits(
  edits: HeaderEditsConfig | undefined,
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
