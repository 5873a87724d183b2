/**
 * @module
 * A bound on how deeply a JSON value nests. Everything that walks a value (the config schema,
 * template compilation, JSON Schema validation, body edits, `JSON.stringify`) recurses, so a value
 * nested thousands of levels deep overflows the stack. This check is a loop, not a recursion: it is
 * safe on any value `JSON.parse` returns, and runs before anything recursive sees the value.
 * `textTooDeep` does the same on JSON text, before it is parsed.
 */

/** Deepest nesting of a config value: far beyond any real config, far below the stack's limit. */
export const MAX_CONFIG_DEPTH = 64

/** Deepest nesting of a JSON body the gateway parses: requests (transform, validate) and aggregation calls' answers. */
export const MAX_BODY_DEPTH = 128

/**
 * The path (keys and indexes) to the first object or array nested deeper than `max` levels, or
 * undefined when the value is within the bound. The root object is level 1.
 */
export function tooDeepAt(value: unknown, max: number): (string | number)[] | undefined {
  type Entry = { value: unknown; depth: number; key: string | number; parent: Entry | undefined }
  const stack: Entry[] = [{ value, depth: 0, key: '', parent: undefined }]
  while (stack.length > 0) {
    const entry = stack.pop()!
    const current = entry.value
    if (current === null || typeof current !== 'object') continue
    if (entry.depth >= max) return pathOf(entry)
    const depth = entry.depth + 1
    if (Array.isArray(current)) current.forEach((item, key) => stack.push({ value: item, depth, key, parent: entry }))
    else for (const [key, item] of Object.entries(current)) stack.push({ value: item, depth, key, parent: entry })
  }
  return undefined
}

function pathOf(entry: { key: string | number; parent: typeof entry | undefined }): (string | number)[] {
  const path: (string | number)[] = []
  for (let at: typeof entry | undefined = entry; at?.parent; at = at.parent) path.unshift(at.key)
  return path
}

/** The character codes that shape JSON text outside its strings (also read by `./exact-json`'s scan). */
export const OPEN_BRACKET = 0x5b
export const CLOSE_BRACKET = 0x5d
export const OPEN_BRACE = 0x7b
export const CLOSE_BRACE = 0x7d
export const QUOTE = 0x22
export const BACKSLASH = 0x5c

/**
 * Whether JSON text nests objects and arrays deeper than `max` levels, read from the text itself
 * (brackets outside strings), so a body nested 5,000 levels deep is refused before anything
 * (a reviver, a merge, `JSON.stringify`) recurses over it. One pass over the characters, no
 * allocation; on text that isn't JSON the answer only decides which error it gets.
 */
export function textTooDeep(text: string, max: number): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (ch === OPEN_BRACKET || ch === OPEN_BRACE) {
      if (++depth > max) return true
    } else if (ch === CLOSE_BRACKET || ch === CLOSE_BRACE) depth--
    else if (ch === QUOTE) {
      // Skip the string: brackets inside it are text.
      for (i++; i < text.length; i++) {
        const c = text.charCodeAt(i)
        if (c === BACKSLASH) i++
        else if (c === QUOTE) break
      }
    }
  }
  return false
}
