/**
 * Config regexes are checked when the config is: a route's path pattern compiles as the router
 * compiles it, and no regex that runs on request data may backtrack catastrophically (nested
 * quantifiers, backreferences).
 */
import fc from 'fast-check'
import safeRegex from 'safe-regex2'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse'
import { regexProblem } from '../../src/core/regex'

type Config = Record<string, any>

function route(extra: Config): Config {
  return { routes: [{ id: 'r', action: { type: 'respond' }, ...extra, match: { path: '/r', ...extra.match } }] }
}

const problemsOf = (config: unknown) => {
  const result = parseConfig(config)
  return result.ok ? [] : result.problems
}

const NESTED = (source: string) =>
  `"${source}" has nested quantifiers (like "(a+)+") or more than 25 quantifiers, which can make matching take exponential time; rewrite it without them`

describe('route path patterns compile at check time', () => {
  it('an invalid parameter regex is refused, naming the field', () => {
    const problems = problemsOf(route({ match: { path: '/x/:rest{[a-}' } }))
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/^routes\[0\]\.match\.path: invalid pattern: Invalid regular expression: .*\[a-/)
  })

  it('a parameter regex with nested quantifiers is refused', () => {
    expect(problemsOf(route({ match: { path: '/x/:id{(a+)+}' } }))).toEqual([`routes[0].match.path: the pattern of :id: ${NESTED('(a+)+')}`])
  })

  it('valid parameter regexes pass', () => {
    expect(problemsOf(route({ match: { path: '/x/:id{[0-9]+}/:rest{.+\\.png}' } }))).toEqual([])
  })
})

describe('regexes that run on request data must be safe', () => {
  it('a header regex with nested quantifiers is refused', () => {
    expect(problemsOf(route({ match: { headers: { 'x-a': { regex: '^(a+)+$' } } } }))).toEqual([`routes[0].match.headers.x-a.regex: ${NESTED('^(a+)+$')}`])
  })

  it('a header regex with a backreference is refused (safe-regex2 does not see them)', () => {
    expect(problemsOf(route({ match: { headers: { 'x-a': { regex: '^(a*)\\1$' } } } }))).toEqual([
      'routes[0].match.headers.x-a.regex: "^(a*)\\1$" uses a backreference, which can make matching take exponential time; rewrite it without one',
    ])
  })

  it('a JSON Schema pattern of the validate policy is checked the same way', () => {
    const config = route({ policies: [{ type: 'validate', query: { type: 'object', properties: { q: { type: 'string', pattern: '(x+x+)+y' } } } }] })
    expect(problemsOf(config)).toEqual([`routes[0].policies[0].query.properties.q.pattern: ${NESTED('(x+x+)+y')}`])
  })

  it('what is refused and what is not', () => {
    for (const unsafe of ['^(a+)+$', '(a*)*', '(x|y+)*z', '(a)\\1', '(?<n>a)\\k<n>']) expect(regexProblem(unsafe), unsafe).toBeDefined()
    for (const safe of ['^mobile-', '^v[0-9]+$', '^[\\w.-]+@example\\.com$', '(?<=a)b', '[\\1]', '^\\d{3}-\\d{4}$']) expect(regexProblem(safe), safe).toBeUndefined()
  })
})

describe('the star-height check agrees with safe-regex2', () => {
  // The check is written over a scan of the source (see core/regex.ts); safe-regex2 (fastify's,
  // over the `ret` parser) is the reference. It must never be less strict, and must give the same
  // answer wherever no lazy quantifier is involved (ret reads `+?` loosely, so there the check is
  // stricter: a lazy repetition inside a repetition backtracks just the same).
  const atom = fc.constantFrom('a', 'b', '.', '\\d', '[ab]', '[^)]', '\\(', '\\*', '(?:a)', 'x')
  const quantifier = fc.constantFrom('', '', '*', '+', '?', '{2}', '{2,}', '{1,3}', '*?', '+?')
  const { regex } = fc.letrec<{ regex: string }>((tie) => ({
    regex: fc.oneof(
      { depthSize: 'small' },
      fc.tuple(atom, quantifier).map(([a, q]) => a + q),
      fc.tuple(tie('regex'), tie('regex')).map(([a, b]) => a + b),
      fc.tuple(tie('regex'), quantifier, fc.constantFrom('(', '(?:', '(?<n>')).map(([inner, q, open]) => `${open}${inner})${q}`),
      fc.tuple(tie('regex'), tie('regex')).map(([a, b]) => `${a}|${b}`),
    ),
  }))

  it('on generated regexes (fixed seed)', () => {
    fc.assert(
      fc.property(regex, (source) => {
        fc.pre(compiles(source))
        const ours = regexProblem(source) === undefined
        const reference = safeRegex(source.replaceAll('(?<n>', '(?:'))
        if (ours) expect(reference, source).toBe(true)
        if (!/[*+?}]\?/.test(source)) expect(ours, source).toBe(reference)
      }),
      { seed: 42, numRuns: 2000 },
    )
  })
})

function compiles(source: string): boolean {
  try {
    new RegExp(source)
    return true
  } catch {
    return false
  }
}
