/**
 * @module
 * Header edits, behind the `headers` policy and the `transform` policy's header steps (see
 * `./edits`). A rendered value holding anything but visible ASCII, space and tab is refused (400):
 * a template can't inject a header, nor send bytes HTTP does not define.
 * A value whose template reads nothing present renders as its fallback or as an empty string (the
 * template engine's rule), never an error.
 */
import * as v from 'valibot'
import { HeaderName } from '../core/schema'
import { Secret } from '../core/secret'
import { HeaderTemplateString } from '../template/schema'
import { checkHeaderValue } from '../template/template'
import { applyEdits, type CompiledEdits, type Multimap } from './edits'

export { checkEdits as checkHeaderEdits, compileEdits as compileHeaderEdits } from './edits'

export const HeaderEditsSchema = v.strictObject({
  rename: v.pipe(v.optional(v.record(HeaderName, HeaderName)), v.description(SCHEMA_DOCS ? 'Old name -> new name; values move, all of them.' : '')),
  remove: v.optional(v.array(HeaderName)),
  // Values may be literal credentials (`Authorization: Bearer ...`): redacted by the admin API.
  set: v.optional(v.record(HeaderName, Secret(HeaderTemplateString))),
  add: v.optional(v.record(HeaderName, Secret(HeaderTemplateString))),
})
export type HeaderEditsConfig = v.InferOutput<typeof HeaderEditsSchema>

function headerMultimap(headers: Headers): Multimap {
  return {
    // `Set-Cookie` is the one header that `get` would merge wrongly, so its values come one by one.
    getAll: (name) => (name.toLowerCase() === 'set-cookie' ? (headers as Headers & { getSetCookie(): string[] }).getSetCookie() : [headers.get(name)].filter((x) => x !== null)),
    has: (name) => headers.has(name),
    delete: (name) => headers.delete(name),
    set: (name, value) => headers.set(name, value),
    append: (name, value) => headers.append(name, value),
  }
}

export function applyHeaderEdits(headers: Headers, edits: CompiledEdits, scope: unknown): void {
  applyEdits(headerMultimap(headers), edits, scope, checkHeaderValue)
}
