/**
 * Property test of route matching as a whole (src/routing/matcher.ts over its path index): for a
 * generated config of overlapping routes, every request gets the first route in config order
 * whose path pattern (as Hono's TrieRouter reads it, one route at a time), host and methods
 * match; else 405 with the methods of the routes whose path and host match, in config order;
 * else 404.
 */
import fc from 'fast-check'
import { TrieRouter } from 'hono/router/trie-router'
import { describe, expect, it } from 'vitest'
import { createMatcher, type MatchInput, type Routable } from '../../src/routing/matcher'
import { canonicalPattern } from '../../src/routing/normalize'
import { fuzzOptions } from '../support/fuzz'

type Route = Routable & { id: string }

const segment = fc.constantFrom('a', 'b', 'users', ':id', ':name')
const pathPattern = fc
  .tuple(fc.array(segment, { minLength: 0, maxLength: 3 }), fc.constantFrom('', '/*', '*', '/'))
  .map(([segments, end]) => {
    const unique = segments.map((s, i) => (s.startsWith(':') ? `${s}${i}` : s))
    const base = `/${unique.join('/')}`
    if (end === '*') return `${base}*`
    return `${base === '/' ? '' : base}${end}` || '/'
  })
const route = fc.record({
  path: pathPattern,
  methods: fc.option(fc.subarray(['GET', 'POST', 'DELETE'], { minLength: 1 }), { nil: undefined }),
  host: fc.option(fc.constantFrom('a.test', 'b.test'), { nil: undefined }),
})
const request = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE'),
  path: fc.array(fc.constantFrom('a', 'b', 'users', '7', 'x'), { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`),
  host: fc.constantFrom('a.test', 'b.test'),
})

function routesOf(specs: { path: string; methods?: string[] | undefined; host?: string | undefined }[]): Route[] {
  return specs.map((spec, i) => ({
    id: `r${i}`,
    config: { match: { path: spec.path, ...(spec.methods ? { methods: spec.methods as never } : {}), ...(spec.host ? { host: spec.host } : {}) }, policies: [] },
  }))
}

/** The rule itself, one route at a time in config order. */
function reference(routes: Route[], req: { method: string; path: string; host: string }): string | string[] {
  const allow: string[] = []
  for (const r of routes) {
    const router = new TrieRouter<true>()
    router.add('ALL', canonicalPattern(r.config.match.path), true)
    if ((router.match('ALL', req.path) as unknown as [unknown[]])[0].length === 0) continue
    if (r.config.match.host !== undefined && r.config.match.host !== req.host) continue
    const listed = r.config.match.methods
    const methods = listed && (listed.includes('GET') ? [...listed, 'HEAD'] : listed)
    if (methods && !methods.includes(req.method)) {
      for (const m of methods) if (!allow.includes(m)) allow.push(m)
      continue
    }
    return r.id
  }
  return allow
}

function matched(routes: Route[], req: { method: string; path: string; host: string }): string | string[] {
  const input: MatchInput = { ...req, headers: new Headers(), query: new URLSearchParams(), clientIp: undefined, country: undefined }
  const result = createMatcher(routes, undefined)(input)
  return result.route ? (result.route as Route).id : result.allow
}

describe('route matching, fuzzed against first match in config order', () => {
  it('picks the same route, or the same 405 methods, or 404', () => {
    fc.assert(
      fc.property(fc.array(route, { minLength: 1, maxLength: 10 }), fc.array(request, { minLength: 1, maxLength: 8 }), (specs, requests) => {
        const routes = routesOf(specs)
        for (const req of requests) expect(matched(routes, req), `${req.method} ${req.host}${req.path}`).toEqual(reference(routes, req))
      }),
      fuzzOptions(200),
    )
  })
})
