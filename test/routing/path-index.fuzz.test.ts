/**
 * Property tests of the path index (src/routing/path-index.ts): for generated sets of overlapping
 * patterns and generated request paths, it answers exactly what Hono's TrieRouter (which the
 * matcher used before) answers: the same patterns, in the order they were added, with the same
 * parameters.
 */
import fc from 'fast-check'
import { TrieRouter } from 'hono/router/trie-router'
import { describe, expect, it } from 'vitest'
import { PathIndex, type PathMatch } from '../../src/routing/path-index'
import { fuzzOptions } from '../support/fuzz'

/** Few distinct literals, so patterns overlap and request paths hit them. */
const LITERALS = ['a', 'b', 'ab', 'users', 'v1', 'files', '', ':', '*', 'a*']
const patternSegment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...LITERALS.filter((l) => !l.includes('*') && l !== ':')) },
  { weight: 2, arbitrary: fc.constantFrom(':id', ':name', ':x') },
  { weight: 1, arbitrary: fc.constantFrom(':n{[0-9]+}', ':rest{.+}') },
)
const patternEnd = fc.constantFrom('', '/*', '*', '/a*', '/:id?', '/')
const pattern = fc
  .tuple(fc.array(patternSegment, { minLength: 0, maxLength: 4 }), patternEnd)
  .map(([segments, end]) => {
    // Parameter names are unique in a pattern (config checks refuse repeats).
    const seen = new Set<string>()
    const unique = segments.map((s, i) => (s.startsWith(':') ? (seen.has(s) ? `${s}${i}` : (seen.add(s), s)) : s))
    const base = `/${unique.join('/')}`
    const under = base === '/' ? '' : base
    switch (end) {
      case '*': // `/a*`, `/:id*` (a parameter named `id*`), `/*`
        return `${base}*`
      case '/:id?':
        return seen.has(':id') ? base : `${under}/:id?`
      case '/':
        return `${under}/`
      default:
        return `${under}${end}` || '/'
    }
  })
const requestPath = fc
  .array(fc.constantFrom(...LITERALS, '7', '42', 'x', ':id'), { minLength: 1, maxLength: 6 })
  .map((segments) => `/${segments.join('/')}`)
  // Normalised paths have no empty segment but a last one (`/a/`).
  .filter((path) => !path.slice(1, -1).includes('//'))

/** TrieRouter's answer as the index gives it: each entry once, in order. */
function reference(patterns: string[], path: string): PathMatch[] {
  const router = new TrieRouter<number>()
  patterns.forEach((p, i) => router.add('ALL', p, i))
  const [matches] = router.match('ALL', path) as unknown as [[number, Record<string, string>][]]
  const out: PathMatch[] = []
  for (const [entry, params] of matches) if (out.at(-1)?.[0] !== entry) out.push([entry, { ...params }])
  return out
}

function indexed(patterns: string[], path: string): PathMatch[] {
  const index = new PathIndex()
  patterns.forEach((p, i) => index.add(p, i))
  return index.match(path).map(([entry, params]) => [entry, { ...params }])
}

describe('PathIndex, fuzzed against TrieRouter', () => {
  it('matches the same patterns, in the same order, with the same parameters', () => {
    fc.assert(
      fc.property(fc.array(pattern, { minLength: 1, maxLength: 12 }), fc.array(requestPath, { minLength: 1, maxLength: 8 }), (patterns, paths) => {
        for (const path of paths) expect(indexed(patterns, path), `${path} against ${JSON.stringify(patterns)}`).toEqual(reference(patterns, path))
      }),
      fuzzOptions(300),
    )
  })

  it('answers these cases as TrieRouter does', () => {
    const patterns = ['/files/*', '/files*', '/*', '/a/:id', '/a/:id/*', '/a/b', '/', '/a/', '/:x/b', '/a/:n{[0-9]+}', '/a/:rest{.+}', '/v1/a/:id?']
    for (const path of ['/', '/files', '/files/', '/filesX/y', '/a', '/a/', '/a/b', '/a/42', '/a/42/z', '/a/:id', '/a/*', '/v1/a', '/v1/a/7', '/q/b']) {
      expect(indexed(patterns, path), path).toEqual(reference(patterns, path))
    }
  })
})
