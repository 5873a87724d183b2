/**
 * @module
 * Path expressions: the one grammar every feature uses to point into data.
 *
 *   user.body.id            dot segments (names may contain `-`, for header names)
 *   items[0].id  items[-1]  array index (negative counts from the end)
 *   items[].id              every element (collects into an array; nested `[]` flattens)
 *   headers["x-user id"]    quoted segment for names with other characters
 *
 * Paths are parsed once (at config time) into steps; reading, writing and deleting walk the steps.
 * `Headers` and `URLSearchParams` are read by name, so request data needs no copying. An exact
 * number (`../core/exact-json`) is a leaf: nothing is read, written or deleted inside it.
 */
import { isRawNumber } from '../core/exact-json'

export type PathStep =
  | { kind: 'key'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'each' }

export type ParsedPath = { source: string; steps: PathStep[] }

export class PathSyntaxError extends Error {
  constructor(source: string, reason: string) {
    super(`invalid path "${source}": ${reason}`)
    this.name = 'PathSyntaxError'
  }
}

// `*` names a route's wildcard tail (`params.*`).
const NAME = /^[A-Za-z0-9_$*-]+/

export function parsePath(source: string): ParsedPath {
  const steps: PathStep[] = []
  let rest = source.trim()
  if (rest === '') throw new PathSyntaxError(source, 'empty')
  let expectName = true
  while (rest.length > 0) {
    if (rest.startsWith('[')) {
      const quote = rest[1]
      if (quote === '"' || quote === "'") {
        // A quoted name may hold any character but its quote, `]` included.
        const end = rest.indexOf(quote, 2)
        if (end < 0) throw new PathSyntaxError(source, 'unclosed quote')
        if (rest[end + 1] !== ']') throw new PathSyntaxError(source, 'missing "]" after a quoted name')
        steps.push({ kind: 'key', name: rest.slice(2, end) })
        rest = rest.slice(end + 2)
        expectName = false
        continue
      }
      const close = rest.indexOf(']')
      if (close < 0) throw new PathSyntaxError(source, 'missing "]"')
      const inner = rest.slice(1, close)
      if (inner === '') steps.push({ kind: 'each' })
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) })
      else throw new PathSyntaxError(source, `"[${inner}]" is neither an index, [] nor a quoted name`)
      rest = rest.slice(close + 1)
      expectName = false
      continue
    }
    if (!expectName) {
      if (!rest.startsWith('.')) throw new PathSyntaxError(source, `unexpected "${rest[0]}"`)
      rest = rest.slice(1)
    }
    const name = NAME.exec(rest)?.[0]
    if (name === undefined) throw new PathSyntaxError(source, rest === '' ? 'ends with "."' : `unexpected "${rest[0]}"`)
    steps.push({ kind: 'key', name })
    rest = rest.slice(name.length)
    expectName = false
  }
  return { source, steps }
}

/** The first key of a path: what a template refers to (`params`, `query`, a call's name...). */
export function pathRoot(path: ParsedPath): string {
  const first = path.steps[0]
  return first?.kind === 'key' ? first.name : ''
}

function readKey(value: unknown, name: string): unknown {
  if (value === null || value === undefined) return undefined
  if (value instanceof Headers) return value.get(name) ?? undefined
  if (value instanceof URLSearchParams) return value.get(name) ?? undefined
  if (value instanceof Map) return value.get(name)
  // JSON semantics: arrays are read by index only (no `length` or other own properties); an exact
  // number is a leaf.
  if (typeof value !== 'object' || Array.isArray(value) || isRawNumber(value)) return undefined
  return Object.prototype.hasOwnProperty.call(value, name) ? (value as Record<string, unknown>)[name] : undefined
}

function readIndex(value: unknown, index: number): unknown {
  if (!Array.isArray(value)) return undefined
  return value[index < 0 ? value.length + index : index]
}

function walk(value: unknown, steps: PathStep[], from: number): unknown {
  let current = value
  for (let i = from; i < steps.length; i++) {
    const step = steps[i]!
    if (step.kind === 'each') {
      if (!Array.isArray(current)) return undefined
      const collected: unknown[] = []
      for (const item of current) {
        const result = walk(item, steps, i + 1)
        if (result === undefined) continue
        // A later `[]` yields arrays: flatten them so `a[].b[].c` is one list.
        if (steps.slice(i + 1).some((s) => s.kind === 'each') && Array.isArray(result)) collected.push(...result)
        else collected.push(result)
      }
      return collected
    }
    current = step.kind === 'key' ? readKey(current, step.name) : readIndex(current, step.index)
    if (current === undefined) return undefined
  }
  return current
}

/** Reads the value at `path`, or `undefined` when any step is missing. */
export function getPath(value: unknown, path: ParsedPath): unknown {
  return walk(value, path.steps, 0)
}

function isContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  return typeof value === 'object' && value !== null && !isRawNumber(value)
}

/**
 * Writes `newValue` at `path` in a JSON value, creating missing objects and arrays on the way. Through `[]` it writes
 * into every element. Returns false when the path runs through a non-container it can't create into.
 */
export function setPath(target: unknown, path: ParsedPath, newValue: unknown): boolean {
  return setSteps(target, path.steps, newValue)
}

function setSteps(target: unknown, steps: PathStep[], newValue: unknown): boolean {
  if (!isContainer(target) || steps.length === 0) return false
  const [step, ...rest] = steps as [PathStep, ...PathStep[]]
  if (step.kind === 'each') {
    if (!Array.isArray(target)) return false
    let ok = true
    if (rest.length === 0) target.fill(newValue)
    else for (const item of target) ok = setSteps(item, rest, newValue) && ok
    return ok
  }
  if (step.kind === 'index') {
    if (!Array.isArray(target)) return false
    const index = step.index < 0 ? target.length + step.index : step.index
    if (index < 0) return false
    if (rest.length === 0) {
      target[index] = newValue
      return true
    }
    if (target[index] === undefined) target[index] = rest[0]!.kind === 'key' ? {} : []
    return setSteps(target[index], rest, newValue)
  }
  if (Array.isArray(target)) return false
  if (step.name === '__proto__' || step.name === 'constructor' || step.name === 'prototype') return false
  if (rest.length === 0) {
    target[step.name] = newValue
    return true
  }
  // Only missing members are created: an existing scalar is never replaced by a container.
  if (target[step.name] === undefined) target[step.name] = rest[0]!.kind === 'key' ? {} : []
  return setSteps(target[step.name], rest, newValue)
}

/** Removes the value at `path` (in every element through `[]`). Returns whether anything was removed. */
export function deletePath(target: unknown, path: ParsedPath): boolean {
  return deleteSteps(target, path.steps)
}

function deleteSteps(target: unknown, steps: PathStep[]): boolean {
  if (!isContainer(target) || steps.length === 0) return false
  const [step, ...rest] = steps as [PathStep, ...PathStep[]]
  if (step.kind === 'each') {
    if (!Array.isArray(target)) return false
    if (rest.length === 0) {
      const had = target.length > 0
      target.length = 0
      return had
    }
    let removed = false
    for (const item of target) removed = deleteSteps(item, rest) || removed
    return removed
  }
  if (step.kind === 'index') {
    if (!Array.isArray(target)) return false
    const index = step.index < 0 ? target.length + step.index : step.index
    if (index < 0 || index >= target.length) return false
    if (rest.length === 0) {
      target.splice(index, 1)
      return true
    }
    return deleteSteps(target[index], rest)
  }
  if (Array.isArray(target) || !Object.prototype.hasOwnProperty.call(target, step.name)) return false
  if (rest.length === 0) return delete target[step.name]
  return deleteSteps(target[step.name], rest)
}
