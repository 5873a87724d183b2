/**
 * @module
 * JSON numbers that keep their exact value. `JSON.parse` turns `12345678901234567890` into the
 * nearest double, `12345678901234567000`: an id altered that way fetches another resource when a
 * later call reads it. workerd has `JSON.parse` with the source text (the reviver's third argument)
 * and `JSON.rawJSON` (ES2025 "JSON.parse source text access"); with them a number that does not
 * survive the round trip is kept as a raw JSON value, which `JSON.stringify` writes back as the
 * exact digits, and which templates render as those digits.
 *
 * The reviver costs a call per value, so `parseJson` first parses as usual and walks the result
 * once for its depth (bounded, so the walk can't overflow the stack either). Only when the text
 * holds a run of 16 or more digits (a `.` inside a number does not break the run), or the walk
 * finds a number of magnitude 2^53 or more, is the text parsed again with the source, and every
 * number in it whose text does not survive the round trip is kept raw. The run is found by a
 * character loop: the regex `/\d{16}/` cost more than the parse itself on a 13 KB body (bench
 * `aggregate-parse`, ratio 1.33 with it).
 */

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

/** Magnitudes from here on can't all be held exactly by a double. */
const UNSAFE = 2 ** 53

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

/** What `parsedProblem` finds: nesting over the bound, or a number whose text may hold more than a double. */
export type ParsedProblem = 'too-deep' | 'inexact'

/**
 * Walks a parsed JSON value: `too-deep` when objects and arrays nest deeper than `maxDepth` levels
 * (the root is level 1; the walk never goes deeper, so it is safe on any value `JSON.parse`
 * returns), else `inexact` when a number may have lost digits, else undefined.
 */
export function parsedProblem(value: unknown, maxDepth: number): ParsedProblem | undefined {
  const found = walk(value, maxDepth)
  return found === TOO_DEEP ? 'too-deep' : found === INEXACT ? 'inexact' : undefined
}

const TOO_DEEP = 1
const INEXACT = 2

function walk(value: unknown, levelsLeft: number): number {
  if (typeof value === 'number') return value >= UNSAFE || value <= -UNSAFE ? INEXACT : 0
  if (typeof value !== 'object' || value === null) return 0
  if (levelsLeft === 0) return TOO_DEEP
  let found = 0
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const inner = walk(value[i], levelsLeft - 1)
      if (inner === TOO_DEEP) return TOO_DEEP
      found |= inner
    }
    return found
  }
  for (const key in value) {
    const inner = walk((value as Record<string, unknown>)[key], levelsLeft - 1)
    if (inner === TOO_DEEP) return TOO_DEEP
    found |= inner
  }
  return found
}

/**
 * Parses a JSON body: numbers stay exact (see the module), and a value nested deeper than
 * `maxDepth` is refused. Throws `SyntaxError` as `JSON.parse` does, or returns `too-deep`.
 */
export function parseJson(text: string, maxDepth: number): { value: unknown } | 'too-deep' {
  const value: unknown = JSON.parse(text)
  const problem = parsedProblem(value, maxDepth)
  if (problem === 'too-deep') return problem
  return { value: problem === 'inexact' || hasLongDigitRun(text) ? parseExactJson(text) : value }
}

/** Digits a double holds for certain: 15; a number written with 16 or more may have lost some. */
const SAFE_DIGITS = 15

/**
 * Whether the text has a run of more than 15 digits, counting across a decimal point
 * (`0.1234567890123456`): a number that may not survive `JSON.parse`. Digits inside strings
 * count too; they only cost the slower, still exact, parse.
 */
export function hasLongDigitRun(text: string): boolean {
  let run = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      if (++run > SAFE_DIGITS) return true
    } else if (c !== 46) run = 0
  }
  return false
}
