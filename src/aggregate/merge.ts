/**
 * @module
 * Merging the calls' shaped results into one JSON object. The rule for conflicts, which holds
 * whatever order the calls finished in:
 *
 * - Results merge in the order the calls are listed in the config.
 * - A result that is an object merges its members into the response; any other value (a list, a
 *   string, a raw body, a number) goes under the call's name.
 * - When two results have the same key: two objects merge recursively by the same rule; anything
 *   else (lists, strings, numbers, an object meeting a non-object) is replaced by the later call's
 *   value. Lists are not concatenated, except where the later call's `append` names the place:
 *   there a list meeting a list is appended to it (KrakenD's flatmap `append`), in config order.
 * - A result that is missing (a `select` that found nothing) adds nothing.
 */
import type { ParsedPath } from '../template/path'
import { isPlainObject, setOwn } from './shape'

/** A call's `append` paths as a tree of keys: `true` marks a place where its lists are appended. */
export type AppendTree = Map<string, AppendTree | true>

/** Builds the tree of `append` paths (key steps only: validation refuses the others). */
export function appendTree(paths: readonly ParsedPath[]): AppendTree {
  const root: AppendTree = new Map()
  for (const path of paths) {
    let node = root
    path.steps.forEach((step, i) => {
      if (step.kind !== 'key') return
      if (i === path.steps.length - 1) return void node.set(step.name, true)
      let next = node.get(step.name)
      if (!(next instanceof Map)) node.set(step.name, (next = new Map()))
      node = next
    })
  }
  return root
}

/** Merges `source` into `target` by the rule above, mutating `target`; `append` marks where lists are appended. */
export function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>, append?: AppendTree): void {
  for (const key of Object.keys(source)) {
    const incoming = source[key]
    const existing = Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined
    const rule = append?.get(key)
    if (rule === true && Array.isArray(existing) && Array.isArray(incoming)) setOwn(target, key, existing.concat(incoming))
    else if (isPlainObject(existing) && isPlainObject(incoming)) mergeInto(existing, incoming, rule instanceof Map ? rule : undefined)
    else setOwn(target, key, incoming)
  }
}

/** Builds the response object from `[callName, shapedResult, append]` given in config order. */
export function mergeResults(results: readonly (readonly [string, unknown, AppendTree?])[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value, append] of results) {
    if (value === undefined) continue
    if (isPlainObject(value)) mergeInto(out, value, append)
    else mergeInto(out, { [name]: value }, append)
  }
  return out
}
