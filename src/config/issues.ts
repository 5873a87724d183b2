/**
 * @module
 * Valibot's issues as the problem lines `parseConfig` reports, each `path: reason`, with "did you
 * mean" for a misspelt key and the allowed keys listed.
 */
import * as v from 'valibot'
import { GatewayConfigSchema } from './schema'

/** `at`: where the value the path starts from sits in the config (a custom policy's, `routes[2].policies[1]`). */
export function formatPath(path: v.IssuePathItem[] | undefined, at = ''): string {
  let out = at
  for (const item of path ?? []) {
    const key = item.key
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) out += out ? `.${key}` : key
    else out += `[${JSON.stringify(key)}]`
  }
  return out || '(root)'
}

type AnySchema = { type: string; [key: string]: unknown }

/** The schema that validates the value at `path` (pipes are transparent: they keep their schema's fields). */
function schemaAt(root: AnySchema, path: v.IssuePathItem[], rootInput: unknown): AnySchema | undefined {
  let schema: AnySchema | undefined = root
  let value = rootInput
  const resolve = (s: AnySchema | undefined): AnySchema | undefined => {
    while (s && (s.type === 'optional' || s.type === 'nullable' || s.type === 'nullish')) s = s.wrapped as AnySchema
    if (s?.type === 'variant' && value && typeof value === 'object') {
      const key = s.key as string
      const options = s.options as AnySchema[]
      return options.find((o) => ((o.entries as Record<string, AnySchema>)[key] as AnySchema & { literal?: unknown })?.literal === (value as Record<string, unknown>)[key])
    }
    return s
  }
  for (const item of path) {
    schema = resolve(schema)
    if (!schema) return undefined
    if (schema.type === 'strict_object' || schema.type === 'object') schema = (schema.entries as Record<string, AnySchema>)[String(item.key)]
    else if (schema.type === 'record') schema = schema.value as AnySchema
    else if (schema.type === 'array') schema = schema.item as AnySchema
    else return undefined
    value = item.value
  }
  return resolve(schema)
}

/** Edit distance, for "did you mean" on a misspelt key. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]!
}

function unknownKeyMessage(issue: v.BaseIssue<unknown>, input: unknown, root: AnySchema): string {
  const path = issue.path ?? []
  const key = String(path[path.length - 1]?.key)
  const parent = schemaAt(root, path.slice(0, -1), input)
  const allowed = parent?.entries ? Object.keys(parent.entries as object) : []
  if (allowed.length === 0) return 'unknown key'
  const close = allowed.filter((name) => distance(name.toLowerCase(), key.toLowerCase()) <= 2).sort((a, b) => distance(a, key) - distance(b, key))
  const hint = close.length > 0 ? `, did you mean "${close[0]}"?` : ''
  return `unknown key${hint} (allowed: ${allowed.join(', ')})`
}

/** Valibot writes alternatives as `("a" | "b")`; the parentheses only add noise to a single list. */
const bare = (expected: string | null) => (expected ?? '').replace(/^\((.*)\)$/, '$1')

/** Where an issue's path starts: the config's root, or a value checked by a schema of its own (a custom policy's options). */
export type IssueOrigin = { root: v.GenericSchema; at: string }

export function formatIssue(issue: v.BaseIssue<unknown>, input: unknown, origin: IssueOrigin = { root: GatewayConfigSchema, at: '' }): string {
  const at = formatPath(issue.path, origin.at)
  if (issue.type === 'strict_object' && issue.expected === 'never') return `${at}: ${unknownKeyMessage(issue, input, origin.root as unknown as AnySchema)}`
  if ((issue.type === 'strict_object' || issue.type === 'object') && issue.kind === 'schema' && issue.received === 'undefined' && issue.expected?.startsWith('"')) {
    return `${at}: required`
  }
  if (issue.type === 'variant' && issue.expected) return `${at}: expected one of ${bare(issue.expected)}, received ${issue.received}`
  // A union reports only its own issue; its members' issues say which part failed.
  // Its members' paths are relative to the union, so they get the union's path in front.
  if (issue.type === 'union' && issue.issues?.length) {
    const last = issue.issues[issue.issues.length - 1]!
    return formatIssue({ ...last, path: [...(issue.path ?? []), ...(last.path ?? [])] as v.IssuePathItem[] } as v.BaseIssue<unknown>, input, origin)
  }
  if (issue.kind === 'schema' && issue.message.startsWith('Invalid type:')) return `${at}: expected ${bare(issue.expected)}, received ${issue.received}`
  return `${at}: ${issue.message}`
}

