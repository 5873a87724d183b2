/**
 * @module
 * JSON numbers that keep their exact value. `JSON.parse` turns `12345678901234567890` into the
 * nearest double, `12345678901234567000`: an id altered that way fetches another resource when a
 * later call reads it. workerd has `JSON.parse` with the source text (the reviver's third argument)
 * and `JSON.rawJSON` (ES2025 "JSON.parse source text access"); with them a number that does not
 * survive the round trip is kept as a raw JSON value, which `JSON.stringify` writes back as the
 * exact digits, and which templates render as those digits.
 *
 * The reviver costs a call per value, so `parseJson` first parses as usual, then reads the text
 * once (`scanJson`, over its bytes) for its nesting depth (bounded: a value nested too deeply is refused before
 * anything recurses into it) and for a number written with 16 or more characters that a double
 * would read back otherwise, exactly those `keepExact` keeps raw (15 significant digits always
 * survive; a double's shortest text, as JavaScript prints `0.30000000000000004`, reads back the
 * same). Only then is the text parsed again with the source. The scan skips strings, so digits inside them (ids sent as strings,
 * dates) cost no second parse. A character loop: the regex `/\d{16}/` cost more than the parse
 * itself on a 13 KB body (bench `aggregate-parse`, ratio 1.33 with it).
 */

import { BACKSLASH, CLOSE_BRACE, CLOSE_BRACKET, OPEN_BRACE, OPEN_BRACKET, QUOTE } from './json-depth'

/** A raw JSON value: a frozen, prototype-less `{ rawJSON: "<the exact text>" }`. */
export type RawNumber = { readonly rawJSON: string }

type JsonWithSource = {
  parse(text: string, reviver: (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown): unknown
  rawJSON(text: string): RawNumber
  isRawJSON(value: unknown): value is RawNumber
}

const sourceJson = JSON as unknown as Partial<JsonWithSource>
/** Whether this runtime has source text access (workerd does; Node 20 does not). */
const HAS_SOURCE = typeof sourceJson.rawJSON === 'function' && typeof sourceJson.isRawJSON === 'function'

/** True for a raw JSON value made by `parseExactJson`. */
export function isRawNumber(value: unknown): value is RawNumber {
  return HAS_SOURCE && typeof value === 'object' && value !== null && sourceJson.isRawJSON!(value)
}

/** Keeps a number whose text does not survive the round trip (`12345678901234567890`) as raw JSON. */
function keepExact(_key: string, value: unknown, context: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value
  const source = context.source
  return source.length >= 16 && String(value) !== source ? sourceJson.rawJSON!(source) : value
}

/** `JSON.parse` reading each number's source: numbers a double alters stay exact. Throws as `JSON.parse` does. */
export function parseExactJson(text: string): unknown {
  return HAS_SOURCE ? sourceJson.parse!(text, keepExact) : JSON.parse(text)
}

/** What `scanJson` finds: nesting over the bound, or a number the reviver must read. */
export type TextShape = 'too-deep' | 'long-number' | undefined

/** What each byte is to `scanJson`: a table read is cheaper than the comparisons it replaces. */
const OTHER = 0
const NUMBER = 1
const STRING = 2
const OPEN = 3
const CLOSE = 4
const KINDS = new Uint8Array(256)
for (const c of '0123456789+-.eE') KINDS[c.charCodeAt(0)] = NUMBER
KINDS[QUOTE] = STRING
KINDS[OPEN_BRACE] = KINDS[OPEN_BRACKET] = OPEN
KINDS[CLOSE_BRACE] = KINDS[CLOSE_BRACKET] = CLOSE

/**
 * One pass over the UTF-8 bytes of JSON text `JSON.parse` accepted: `too-deep` when objects and
 * arrays nest deeper than `maxDepth` levels (the root is level 1), else `long-number` when a
 * number is written with 16 or more characters and a double reads it back otherwise
 * (`doubleAlters`), else undefined. Strings are skipped whole (an
 * escaped quote doesn't end one; a quote or backslash byte is never part of a longer UTF-8
 * character). Bytes, not the decoded text: reading a byte array here took half the time of
 * `charCodeAt` (12 against 24 µs on the bench's 13 KB body, in Node).
 */
export function scanJson(bytes: Uint8Array, maxDepth: number, text?: string): TextShape {
  // The text's offsets are the bytes' when every character is one byte: a number's text is then a slice of it.
  const sameOffsets = text !== undefined && text.length === bytes.length ? text : undefined
  let depth = 0
  let run = 0
  let start = 0
  let long = false
  const n = bytes.length
  for (let i = 0; i < n; i++) {
    const kind = KINDS[bytes[i]!]
    if (kind === NUMBER) {
      if (run++ === 0) start = i
      continue
    }
    if (run >= LONG_NUMBER && !long) long = doubleAlters(numberText(bytes, start, i, sameOffsets))
    run = 0
    if (kind === OTHER) continue
    if (kind === STRING) {
      for (i++; i < n; i++) {
        const c = bytes[i]
        if (c === BACKSLASH) i++
        else if (c === QUOTE) break
      }
    } else if (kind === OPEN) {
      if (++depth > maxDepth) return 'too-deep'
    } else depth--
  }
  if (run >= LONG_NUMBER && !long) long = doubleAlters(numberText(bytes, start, n, sameOffsets))
  return long ? 'long-number' : undefined
}

/** Characters from which a number's text may say more than a double holds (15 digits always survive). */
const LONG_NUMBER = 16
/** Longer number texts are not read back here: the reviver reads them. */
const MAX_READ_BACK = 64

/**
 * Whether the number written in `bytes[from, to)` reads back differently from a double, which
 * is when `keepExact` keeps it raw: `12345678901234567890` does, the `0.30000000000000004` or
 * `-122.41941550000001` a JavaScript or Python program prints (the shortest text of a double) does not.
 */
function doubleAlters(source: string | undefined): boolean {
  return source === undefined || String(Number(source)) !== source
}

/** The number written in `bytes[from, to)` (ASCII), undefined past `MAX_READ_BACK`: a slice of `text` when its offsets are the bytes'. */
function numberText(bytes: Uint8Array, from: number, to: number, text: string | undefined): string | undefined {
  if (to - from > MAX_READ_BACK) return undefined
  if (text !== undefined) return text.slice(from, to)
  let source = ''
  for (let i = from; i < to; i++) source += String.fromCharCode(bytes[i]!)
  return source
}

/**
 * Parses a JSON body, `text` decoded from `bytes`: numbers stay exact (see the module), and a value
 * nested deeper than `maxDepth` is refused. Throws `SyntaxError` as `JSON.parse` does, or returns `too-deep`.
 */
export function parseJson(text: string, bytes: Uint8Array, maxDepth: number): { value: unknown } | 'too-deep' {
  const value: unknown = JSON.parse(text)
  const shape = scanJson(bytes, maxDepth, text)
  if (shape === 'too-deep') return shape
  return { value: shape === 'long-number' ? parseExactJson(text) : value }
}
