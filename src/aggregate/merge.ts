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
 *   value. Lists are not concatenated.
 * - A result that is missing (a `select` that found nothing) adds nothing.
 */
import { isPlainObject, setOwn } from './shape'

/** Merges `source` into `target` by the rule above, mutating `target`. */
export function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const key of Object.keys(source)) {
    const incoming = source[key]
    const existing = Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined
    if (isPlainObject(existing) && isPlainObject(incoming)) mergeInto(existing, incoming)
    else setOwn(target, key, incoming)
  }
}

/** Builds the response object from `[callName, shapedResult]` pairs given in config order. */
export function mergeResults(results: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of results) {
    if (value === undefined) continue
    if (isPlainObject(value)) mergeInto(out, value)
    else mergeInto(out, { [name]: value })
  }
  return out
}
