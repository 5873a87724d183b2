/**
 * @module
 * JSON numbers that keep their exact value. `JSON.parse` turns `12345678901234567890` into the
 * nearest double, `12345678901234567000`: an id altered that way fetches another resource when a
 * later call reads it. workerd has `JSON.parse` with the source text (the reviver's third argument)
 * and `JSON.rawJSON` (ES2025 "JSON.parse source text access"); with them a number that does not
 * survive the round trip is kept as a raw JSON value, which `JSON.stringify` writes back as the
 * exact digits, and which templates render as those digits.
 *
 * The reviver costs a call per value, so it runs only on a text holding a run of 16 or more digits
 * (a double holds every integer of 15 digits exactly, and `2^53` has 16): other bodies take plain
 * `JSON.parse`. A raw value is an opaque leaf: shaping, merging and path reads never look inside it.
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

/** A run of 16 digits anywhere (inside strings too: a false alarm only costs the slower parse). */
const LONG_DIGITS = /\d{16}/

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

/** `JSON.parse`, except that numbers a double would alter stay exact (see the module). Throws as `JSON.parse` does. */
export function parseExactJson(text: string): unknown {
  if (!HAS_SOURCE || !LONG_DIGITS.test(text)) return JSON.parse(text)
  return sourceJson.parse!(text, keepExact)
}
