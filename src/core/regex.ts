/**
 * @module
 * Regular expressions from the config, which run on request data (a header, a path segment, a
 * body field). JavaScript regexes backtrack: nested quantifiers (`^(a+)+$`) take exponential time
 * on a short crafted value, and a backreference (`(a*)\1`) defeats any analysis, so both are
 * refused when the config is checked. The star-height check is `safe-regex2` (fastify's); it does
 * not look at backreferences, so they are found here. At run time a value longer than
 * `MAX_REGEX_INPUT` is not matched at all, which bounds what the remaining (polynomial) cases cost.
 */
import safeRegex from 'safe-regex2'

/** The longest value a config regex is run on; a longer one does not match. */
export const MAX_REGEX_INPUT = 1024

/** `\1`..`\9` or `\k<name>` outside a character class. */
function hasBackreference(source: string): boolean {
  let inClass = false
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]
    if (ch === '\\') {
      const next = source[i + 1] ?? ''
      if (!inClass && (/[1-9]/.test(next) || (next === 'k' && source[i + 2] === '<'))) return true
      i++
    } else if (ch === '[') inClass = true
    else if (ch === ']') inClass = false
  }
  return false
}

/**
 * Why the config may not use `source` as a regex, or undefined: it doesn't compile, or it could
 * backtrack catastrophically.
 */
export function regexProblem(source: string, flags = ''): string | undefined {
  try {
    new RegExp(source, flags)
  } catch (err) {
    return `invalid regular expression: ${(err as Error).message}`
  }
  if (hasBackreference(source)) return `"${source}" uses a backreference, which can make matching take exponential time; rewrite it without one`
  // safe-regex2's parser doesn't read lookbehinds; for star height they are plain groups.
  if (!safeRegex(source.replace(/(?<!\\)\(\?<[=!]/g, '(?:'))) {
    return `"${source}" has nested quantifiers (like "(a+)+") or more than 25 quantifiers, which can make matching take exponential time; rewrite it without them`
  }
  return undefined
}

/** Tests a config regex on a request value, or answers no match when the value is over `MAX_REGEX_INPUT`. */
export function testBounded(regex: RegExp, value: string): boolean {
  return value.length <= MAX_REGEX_INPUT && regex.test(value)
}
