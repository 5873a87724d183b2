/**
 * @module
 * Regular expressions from the config, which run on request data (a header, a path segment, a
 * body field). JavaScript regexes backtrack: nested quantifiers (`^(a+)+$`) take exponential time
 * on a short crafted value, and a backreference (`(a*)\1`) defeats any analysis, so both are
 * refused when the config is checked. The star-height check is safe-regex's rule (a repetition
 * inside a repetition, or more than 25 repetitions, is refused), written here over a small scan of
 * the source rather than bundled with a full regex parser (`ret`, 13.6 KiB minified, for this one
 * check); a property test holds it to `safe-regex2`'s answers. At run time a value longer than
 * `MAX_REGEX_INPUT` is not matched at all, which bounds what the remaining (polynomial) cases cost.
 */

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

/** Most repetitions one regex may have (safe-regex's default). */
const MAX_REPETITIONS = 25

/** The end of the character class that starts at `i` (`[`), escapes included. */
function classEnd(source: string, i: number): number {
  let j = i + 1
  if (source[j] === '^') j++
  if (source[j] === ']') j++
  for (; j < source.length && source[j] !== ']'; j++) if (source[j] === '\\') j++
  return j
}

/** The length of a quantifier at `i` (`*`, `+`, `?`, `{2}`, `{2,}`, `{2,5}`), or 0. */
function quantifierLength(source: string, i: number): number {
  const ch = source[i]
  if (ch === '*' || ch === '+' || ch === '?') return 1
  return ch === '{' ? (/^\{\d+(,\d*)?\}/.exec(source.slice(i))?.[0].length ?? 0) : 0
}

/**
 * Whether `source` (a regex that compiles) has a repetition inside a repetition, or more than
 * `MAX_REPETITIONS` of them: safe-regex's star-height rule. Groups are a stack of "has a
 * repetition inside" flags; a quantifier on a group whose flag is set is a star height of 2.
 */
function hasNestedRepetition(source: string): boolean {
  const groups: boolean[] = [false]
  let repetitions = 0
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]!
    // What the quantifier after this atom would repeat: does it hold a repetition already?
    let repeatsInside = false
    if (ch === '\\') i++
    else if (ch === '[') i = classEnd(source, i)
    else if (ch === '(') {
      groups.push(false)
      // `(?:`, `(?=`, `(?!`, `(?<=`, `(?<!`, `(?<name>`: the `?` is not a quantifier.
      if (source[i + 1] === '?') i += source[i + 2] !== '<' ? 2 : source[i + 3] === '=' || source[i + 3] === '!' ? 3 : source.indexOf('>', i) - i
      continue
    } else if (ch === ')') {
      repeatsInside = groups.pop() ?? false
      groups[groups.length - 1] ||= repeatsInside
    }
    const length = quantifierLength(source, i + 1)
    if (length === 0) continue
    if (repeatsInside || ++repetitions > MAX_REPETITIONS) return true
    groups[groups.length - 1] = true
    i += length
    if (source[i + 1] === '?') i++ // lazy: `*?`, `+?`
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
  if (hasNestedRepetition(source)) {
    return `"${source}" has nested quantifiers (like "(a+)+") or more than 25 quantifiers, which can make matching take exponential time; rewrite it without them`
  }
  return undefined
}

/** Tests a config regex on a request value, or answers no match when the value is over `MAX_REGEX_INPUT`. */
export function testBounded(regex: RegExp, value: string): boolean {
  return value.length <= MAX_REGEX_INPUT && regex.test(value)
}
