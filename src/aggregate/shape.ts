/**
 * @module
 * Shaping a call's JSON before the merge, compiled once per route. The steps run in this order:
 *
 *   1. select    keep only the value at a path (`data.user`; `items[].id` collects a list)
 *   2. collect   add keys computed from paths (`{ "skus": "orders[].items[].sku" }`); on a value
 *                that isn't an object, the collected keys replace it
 *   3. allow     keep only these fields (`id`, `address.city`, `items[].id`)
 *   4. deny      remove these fields (`password`, `items[].internal`)
 *   5. rename    rename fields in place (`full_name` -> `name`, `items[].sku` -> `productId`)
 *   6. group     put the result under a key
 *
 * Every path uses the one path grammar (`../template/path`).
 */
import { isRawNumber } from '../core/exact-json'
import { deletePath, getPath, parsePath, type ParsedPath } from '../template/path'
import type { AggregateCallConfig } from './schema'

export type Shaper = (body: unknown) => unknown

/** An object to shape or merge into; an exact number (`../core/exact-json`) is a leaf, not an object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isRawNumber(value)
}

/** Sets an own member, also one named `__proto__` (which plain assignment would treat as the prototype). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  else target[key] = value
}

/** The allowed paths as a tree: a leaf keeps the whole value below it. */
type AllowTree = { whole: boolean; keys: Map<string, AllowTree>; each?: AllowTree }

function allowTree(paths: readonly ParsedPath[]): AllowTree {
  const root: AllowTree = { whole: false, keys: new Map() }
  for (const path of paths) {
    let node = root
    for (const step of path.steps) {
      if (step.kind === 'key') {
        let next = node.keys.get(step.name)
        if (!next) node.keys.set(step.name, (next = { whole: false, keys: new Map() }))
        node = next
      } else {
        // Validation refuses indexes in allow paths; `[]` is the only other step.
        node = node.each ??= { whole: false, keys: new Map() }
      }
    }
    node.whole = true
  }
  return root
}

function project(value: unknown, tree: AllowTree): unknown {
  if (tree.whole) return value
  if (Array.isArray(value)) return tree.each ? value.map((item) => project(item, tree.each!)) : undefined
  if (!isPlainObject(value)) return undefined
  const out: Record<string, unknown> = {}
  for (const [key, child] of tree.keys) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue
    const kept = project(value[key], child)
    if (kept !== undefined) setOwn(out, key, kept)
  }
  return out
}

/** Renames the last field of `path` to `to` in every object the path's parent reaches. */
function renameAt(body: unknown, path: ParsedPath, to: string): void {
  const last = path.steps.at(-1)
  if (last?.kind !== 'key' || last.name === to) return
  const parentSteps = path.steps.slice(0, -1)
  const parent = parentSteps.length === 0 ? body : getPath(body, { source: path.source, steps: parentSteps })
  // Through `[]` the parent path yields a list of the parents themselves (not copies).
  const parents = parentSteps.some((step) => step.kind === 'each') && Array.isArray(parent) ? parent : [parent]
  for (const target of parents) {
    if (!isPlainObject(target) || !Object.prototype.hasOwnProperty.call(target, last.name)) continue
    const value = target[last.name]
    delete target[last.name]
    setOwn(target, to, value)
  }
}

export function compileShape(call: AggregateCallConfig): Shaper {
  const select = call.select !== undefined ? parsePath(call.select) : undefined
  const collect = Object.entries(call.collect ?? {}).map(([key, source]) => [key, parsePath(source)] as const)
  const allow = call.allow ? allowTree(call.allow.map(parsePath)) : undefined
  const deny = (call.deny ?? []).map(parsePath)
  const rename = Object.entries(call.rename ?? {}).map(([from, to]) => [parsePath(from), to] as const)
  const group = call.group
  if (!select && collect.length === 0 && !allow && deny.length === 0 && rename.length === 0 && group === undefined) return (body) => body

  return function shape(body) {
    let value = select ? getPath(body, select) : body
    if (collect.length > 0) {
      const target: Record<string, unknown> = isPlainObject(value) ? value : {}
      for (const [key, path] of collect) {
        const collected = getPath(value, path)
        if (collected !== undefined) setOwn(target, key, collected)
      }
      value = target
    }
    if (allow) value = project(value, allow)
    for (const path of deny) deletePath(value, path)
    for (const [path, to] of rename) renameAt(value, path, to)
    if (group !== undefined) {
      const grouped: Record<string, unknown> = {}
      setOwn(grouped, group, value ?? null)
      return grouped
    }
    return value
  }
}
