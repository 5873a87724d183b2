/**
 * @module
 * JSON body edits, applied in this order: `unwrap` (replace the body by the value at a path),
 * `rename` (move values), `remove`, `set` (JSON templates), `wrap` (nest the body under a path).
 * Paths are the one path grammar (`../template/path`): `user.id`, `items[0]`, `items[].id`.
 * Templates in `set` read the request scope plus `body` (the body as edited so far).
 *
 * Missing values never fail a request: `unwrap` of a missing path leaves the body as it is, a
 * `rename` whose source is missing does nothing, and a `set` whose whole-value template finds
 * nothing (and has no fallback) leaves the field out.
 */
import * as v from 'valibot'
import { PathString } from '../template/schema'
import { checkTemplateRefs } from '../template/check'
import { deletePath, getPath, parsePath, setPath, type ParsedPath, type PathStep } from '../template/path'
import { compileJsonTemplate, type JsonTemplate } from '../template/template'

export const JsonEditsSchema = v.strictObject({
  unwrap: v.pipe(v.optional(PathString), v.description(SCHEMA_DOCS ? 'Replace the body by the value at this path.' : '')),
  rename: v.pipe(v.optional(v.record(PathString, PathString)), v.description(SCHEMA_DOCS ? 'From path -> to path (`items[].id` -> `items[].key`).' : '')),
  remove: v.optional(v.array(PathString)),
  set: v.pipe(v.optional(v.record(PathString, v.unknown())), v.description(SCHEMA_DOCS ? 'Path -> JSON value; strings inside are templates.' : '')),
  wrap: v.pipe(v.optional(PathString), v.description(SCHEMA_DOCS ? 'Nest the whole body under this path (`data` -> `{"data": body}`).' : '')),
})
export type JsonEditsConfig = v.InferOutput<typeof JsonEditsSchema>

export type CompiledJsonEdits = {
  unwrap: ParsedPath | undefined
  rename: [ParsedPath, ParsedPath][]
  remove: ParsedPath[]
  set: [ParsedPath, JsonTemplate][]
  wrap: ParsedPath | undefined
}

export const JSON_TEMPLATE_ROOT = 'body'

export function compileJsonEdits(edits: JsonEditsConfig): CompiledJsonEdits {
  return {
    unwrap: edits.unwrap !== undefined ? parsePath(edits.unwrap) : undefined,
    rename: Object.entries(edits.rename ?? {}).map(([from, to]) => [parsePath(from), parsePath(to)]),
    remove: (edits.remove ?? []).map(parsePath),
    set: Object.entries(edits.set ?? {}).map(([path, value]) => [parsePath(path), compileJsonTemplate(value)]),
    wrap: edits.wrap !== undefined ? parsePath(edits.wrap) : undefined,
  }
}

const sameStep = (a: PathStep, b: PathStep) =>
  a.kind === b.kind && (a.kind !== 'key' || a.name === (b as typeof a).name) && (a.kind !== 'index' || a.index === (b as typeof a).index)

/** Steps the two paths share from the start, stopping before either's last step. */
function sharedPrefix(from: PathStep[], to: PathStep[]): number {
  let n = 0
  while (n < from.length - 1 && n < to.length - 1 && sameStep(from[n]!, to[n]!)) n++
  return n
}

const steps = (list: PathStep[]): ParsedPath => ({ source: '', steps: list })

/** Moves the value at `from` to `to`; through a shared `[]` it moves within every element. */
function renameSteps(target: unknown, from: PathStep[], to: PathStep[]): void {
  if (typeof target !== 'object' || target === null) return
  if (sharedPrefix(from, to) > 0) {
    const [step, ...rest] = from as [PathStep, ...PathStep[]]
    const restTo = to.slice(1)
    if (step.kind === 'each') {
      if (Array.isArray(target)) for (const item of target) renameSteps(item, rest, restTo)
      return
    }
    renameSteps(getPath(target, steps([step])), rest, restTo)
    return
  }
  const value = getPath(target, steps(from))
  if (value === undefined) return
  deletePath(target, steps(from))
  setPath(target, steps(to), value)
}

/** Applies the edits to a parsed JSON value and returns the new value. */
export function applyJsonEdits(body: unknown, edits: CompiledJsonEdits, scope: Record<string, unknown>): unknown {
  let out = body
  if (edits.unwrap) {
    const inner = getPath(out, edits.unwrap)
    if (inner !== undefined) out = inner
  }
  for (const [from, to] of edits.rename) renameSteps(out, from.steps, to.steps)
  for (const path of edits.remove) deletePath(out, path)
  if (edits.set.length > 0) {
    const withBody = { ...scope, [JSON_TEMPLATE_ROOT]: out }
    for (const [path, template] of edits.set) {
      const value = template.render(withBody)
      if (value !== undefined) setPath(out, path, value)
    }
  }
  if (edits.wrap) {
    const wrapper = {}
    setPath(wrapper, edits.wrap, out)
    out = wrapper
  }
  return out
}

/** Config checks the schema can't express: rename across `[]`, wrap through arrays, template refs. */
export function checkJsonEdits(
  edits: JsonEditsConfig | undefined,
  field: string,
  roots: readonly string[],
  params: readonly string[] | undefined,
  error: (field: string, message: string) => void,
): void {
  if (!edits) return
  for (const [from, to] of Object.entries(edits.rename ?? {})) {
    const a = parsePath(from).steps
    const b = parsePath(to).steps
    const n = sharedPrefix(a, b)
    if ([...a.slice(n), ...b.slice(n)].some((s) => s.kind === 'each')) {
      error(`${field}.rename["${from}"]`, `can't move values across "[]": "${from}" and "${to}" must share everything up to their last "[]"`)
    }
  }
  if (edits.wrap !== undefined && parsePath(edits.wrap).steps.some((s) => s.kind !== 'key')) {
    error(`${field}.wrap`, `"${edits.wrap}" must be names only (no "[...]")`)
  }
  for (const [path, value] of Object.entries(edits.set ?? {})) {
    let problem: string | undefined
    try {
      problem = checkTemplateRefs(compileJsonTemplate(value).refs, [...roots, JSON_TEMPLATE_ROOT], params)
    } catch (err) {
      problem = (err as Error).message
    }
    if (problem) error(`${field}.set["${path}"]`, problem)
  }
}
