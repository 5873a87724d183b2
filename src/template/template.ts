/**
 * @module
 * String and JSON templates: `/v2/users/{params.id}`, `Bearer {claims.sub|anonymous}`,
 * `{ "ids": "{orders.body.items[].id}" }`. The one template engine for rewrites, redirects, fixed
 * responses, header transforms and aggregation calls.
 *
 * Grammar: text with `{path}` or `{path|fallback}`; `{{` and `}}` are literal braces. A path follows
 * `./path.ts`. Missing values render as the fallback, or as an empty string. Arrays render joined by
 * `,`, objects as JSON. A template that is exactly one `{path}` keeps the value's own type through
 * `value()` (so a JSON body template can insert a whole object or a number).
 */
import { GatewayError } from '../core/errors'
import { isRawNumber } from '../core/exact-json'
import { getPath, parsePath, pathRoot, type ParsedPath } from './path'

type Part = string | { path: ParsedPath; fallback: string | undefined }

export class TemplateSyntaxError extends Error {
  constructor(source: string, reason: string) {
    super(`invalid template "${source}": ${reason}`)
    this.name = 'TemplateSyntaxError'
  }
}

export type Template = {
  readonly source: string
  /** Every path the template reads, for validation (known roots, known params, call references). */
  readonly refs: readonly ParsedPath[]
  /** The template is exactly one expression. */
  readonly whole: boolean
  /**
   * Renders to text; `encode` is applied to each substituted value (not to literal text). With
   * `onEmpty` (opt-in, strict), an empty value counts as missing too (it takes the fallback), and
   * an expression left empty without a fallback is passed to `onEmpty`, which may throw.
   */
  render(scope: unknown, encode?: (value: string, path: ParsedPath) => string, onEmpty?: (path: ParsedPath) => void): string
  /** Like `render`, but a whole-expression template returns the value itself. */
  value(scope: unknown): unknown
}

export function stringifyValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  // An exact number (`../core/exact-json`) renders as its digits, so a chained call gets the right id.
  if (isRawNumber(value)) return value.rawJSON
  if (Array.isArray(value)) return value.map((item) => stringifyValue(item) ?? '').join(',')
  return JSON.stringify(value)
}

/** The index of the `}` closing an expression that starts at `from`; quoted names may hold `}`. */
function closingBrace(source: string, from: number): number {
  for (let i = from; i < source.length; i++) {
    const ch = source[i]
    if (ch === '}') return i
    if ((ch === '"' || ch === "'") && source[i - 1] === '[') {
      const end = source.indexOf(ch, i + 1)
      if (end < 0) return -1
      i = end
    }
  }
  return -1
}

function parseParts(source: string): Part[] {
  const parts: Part[] = []
  let text = ''
  let i = 0
  while (i < source.length) {
    const ch = source[i]!
    if (ch === '{' && source[i + 1] === '{') {
      text += '{'
      i += 2
    } else if (ch === '}' && source[i + 1] === '}') {
      text += '}'
      i += 2
    } else if (ch === '{') {
      const close = closingBrace(source, i + 1)
      if (close < 0) throw new TemplateSyntaxError(source, 'unclosed "{"')
      const inner = source.slice(i + 1, close)
      const bar = inner.indexOf('|')
      const expression = bar < 0 ? inner : inner.slice(0, bar)
      try {
        if (text) parts.push(text)
        text = ''
        parts.push({ path: parsePath(expression), fallback: bar < 0 ? undefined : inner.slice(bar + 1) })
      } catch (err) {
        throw new TemplateSyntaxError(source, (err as Error).message)
      }
      i = close + 1
    } else if (ch === '}') {
      throw new TemplateSyntaxError(source, 'unmatched "}" (write "}}" for a literal brace)')
    } else {
      text += ch
      i++
    }
  }
  if (text) parts.push(text)
  return parts
}

export function compileTemplate(source: string): Template {
  const parts = parseParts(source)
  const refs = parts.flatMap((part) => (typeof part === 'string' ? [] : [part.path]))
  const whole = parts.length === 1 && typeof parts[0] !== 'string'
  const render = (scope: unknown, encode?: (value: string, path: ParsedPath) => string, onEmpty?: (path: ParsedPath) => void): string => {
    let out = ''
    for (const part of parts) {
      if (typeof part === 'string') {
        out += part
        continue
      }
      let text = stringifyValue(getPath(scope, part.path))
      if (text === undefined || (text === '' && onEmpty)) {
        text = part.fallback ?? ''
        if (part.fallback === undefined) onEmpty?.(part.path)
      }
      out += encode ? encode(text, part.path) : text
    }
    return out
  }
  return {
    source,
    refs,
    whole,
    render,
    value(scope) {
      if (!whole) return render(scope)
      const part = parts[0] as Exclude<Part, string>
      return getPath(scope, part.path) ?? part.fallback
    },
  }
}

/** A template over a JSON value: every string inside is a template. */
export type JsonTemplate = {
  readonly refs: readonly ParsedPath[]
  render(scope: unknown): unknown
}

export function compileJsonTemplate(json: unknown): JsonTemplate {
  const refs: ParsedPath[] = []
  const build = (value: unknown): ((scope: unknown) => unknown) => {
    if (typeof value === 'string') {
      if (!value.includes('{') && !value.includes('}')) return () => value
      const template = compileTemplate(value)
      refs.push(...template.refs)
      return (scope) => template.value(scope)
    }
    if (Array.isArray(value)) {
      const items = value.map(build)
      return (scope) => items.map((item) => item(scope))
    }
    if (typeof value === 'object' && value !== null) {
      const entries = Object.entries(value).map(([key, item]) => [key, build(item)] as const)
      return (scope) => {
        const out: Record<string, unknown> = {}
        for (const [key, item] of entries) {
          const rendered = item(scope)
          // A missing whole-value reference drops the member instead of writing `undefined`.
          if (rendered !== undefined) out[key] = rendered
        }
        return out
      }
    }
    return () => value
  }
  const render = build(json)
  return { refs, render }
}

/** Root names referenced by templates, e.g. for "unknown template variable" validation. */
export function templateRoots(refs: readonly ParsedPath[]): string[] {
  return [...new Set(refs.map(pathRoot))]
}

/** What a rendered header value may hold: visible ASCII, space and tab. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/

/**
 * A rendered header value, refused (400) when it holds anything but visible ASCII, space and tab:
 * CR, LF or NUL would inject a header, and other characters would go out as raw UTF-8 bytes that
 * HTTP does not define (RFC 9110 5.5), read differently by each server. An aggregation call turns
 * the refusal into its own `invalid-input` failure.
 */
export function checkHeaderValue(value: string): string {
  if (HEADER_VALUE.test(value)) return value
  throw new GatewayError('ERR_BAD_REQUEST', { detail: 'A value placed in a header holds characters other than visible ASCII, space and tab.' })
}

/**
 * Encodes a value as one path segment, so it can't add `/` or `..` segments. A value that is `.` or
 * `..` is refused (400): URL parsers resolve `%2E%2E` like `..`, so no encoding of it is safe.
 */
export function encodePathSegment(value: string): string {
  if (value === '.' || value === '..') {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: 'A value placed in the upstream path is "." or "..".' })
  }
  return encodeURIComponent(value)
}

/**
 * The encoder for path and URL templates. Route params come from the normalised request path, where
 * a `/` can only be a wildcard's own separator, so they keep their slashes; every other value
 * (query, headers, claims...) is one segment.
 */
export function encodeForPath(value: string, path: ParsedPath): string {
  const root = pathRoot(path)
  if (root === 'params') return value.split('/').map(encodePathSegment).join('/')
  // `request.path` and `request.search` are URL text already (normalised and encoded).
  const key = path.steps[1]
  if (root === 'request' && key?.kind === 'key' && (key.name === 'path' || key.name === 'search')) return value
  return encodePathSegment(value)
}
