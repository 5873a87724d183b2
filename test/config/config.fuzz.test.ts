/**
 * Random and mutated configs against the validator: a config either is refused with messages that
 * each name a field, or it builds and its routes answer without the gateway's own 500. The seeds are
 * the demo config and the test fixture; mutations put inherited names where references go, odd
 * regexes and path patterns, deep nesting, wrong types, dropped and duplicated keys. Fixed seed,
 * bounded runs: the same configs every time.
 */
import { fuzzOptions } from '../support/fuzz'
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import demo from '../../config/demo.json'
import fixture from '../fixtures/gateway.json'
import { parseConfig } from '../../src/config/parse'
import { ConfigError } from '../../src/core/errors'
import type { Env } from '../../src/core/env'
import { createGateway } from '../../src/gateway/create-gateway'

type Json = unknown
type Path = (string | number)[]

const PROTOTYPE_NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', 'isPrototypeOf']
const ODD_REGEXES = ['^(a+)+$', '(x)\\1', '[a-', '(?<=a)b', '.*', '(a|aa)*c', '(?<n>a)\\k<n>', '^\\d{3}$', '(', '\\']
const ODD_PATHS = ['/x/:rest{[a-}', '/x/:id{(a+)+}', '/x/:id{\\d+}', '/x/*/y', '/x/:a/:a', '*', '/', 'no-slash', '/x/:id{a|}', '/%zz']

/** Every path to a value in the tree (the root excluded). */
function pathsOf(value: Json, at: Path = [], out: Path[] = []): Path[] {
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const path = [...at, Array.isArray(value) ? Number(key) : key]
      out.push(path)
      pathsOf(item, path, out)
    }
  }
  return out
}

function parentOf(root: Json, path: Path): Record<string | number, Json> {
  let node = root as Record<string | number, Json>
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>
  return node
}

function nested(levels: number): Json {
  let value: Json = 'leaf'
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { a: value }
  return value
}

type Mutation = (config: Record<string, any>, pick: number, choice: number) => void

const atPath = (config: Json, pick: number) => {
  const paths = pathsOf(config)
  return paths[pick % paths.length]!
}

const MUTATIONS: Mutation[] = [
  // An inherited name where a string was (references: upstreams, plans, versions, route ids...).
  (config, pick, choice) => {
    const strings = pathsOf(config).filter((p) => typeof parentOf(config, p)[p.at(-1)!] === 'string')
    const path = strings[pick % strings.length]!
    parentOf(config, path)[path.at(-1)!] = PROTOTYPE_NAMES[choice % PROTOTYPE_NAMES.length]
  },
  // A header regex on some route.
  (config, pick, choice) => {
    const route = config.routes[pick % config.routes.length]
    route.match.headers = { 'x-fuzz': { regex: ODD_REGEXES[choice % ODD_REGEXES.length] } }
  },
  // A path pattern.
  (config, pick, choice) => {
    config.routes[pick % config.routes.length].match.path = ODD_PATHS[choice % ODD_PATHS.length]
  },
  // Deep nesting anywhere.
  (config, pick, choice) => {
    const path = atPath(config, pick)
    parentOf(config, path)[path.at(-1)!] = nested([3, 60, 70, 5_000][choice % 4]!)
  },
  // A value of the wrong type.
  (config, pick, choice) => {
    const path = atPath(config, pick)
    parentOf(config, path)[path.at(-1)!] = [null, 0, -1, 1e12, '', 'x', true, [], {}, 'http://127.0.0.1:9'][choice % 10]
  },
  // A key dropped.
  (config, pick) => {
    const path = atPath(config, pick)
    const parent = parentOf(config, path)
    if (Array.isArray(parent)) parent.splice(path.at(-1) as number, 1)
    else delete parent[path.at(-1)!]
  },
  // A route duplicated (same id), or a key copied under another name.
  (config, pick, choice) => {
    if (choice % 2) config.routes.push(structuredClone(config.routes[pick % config.routes.length]))
    else {
      const path = atPath(config, pick)
      const parent = parentOf(config, path)
      if (!Array.isArray(parent)) parent[`${String(path.at(-1))}2`] = structuredClone(parent[path.at(-1)!])
    }
  },
]

const BASES = [demo, fixture] as Json[]

const configs = fc
  .tuple(fc.nat(BASES.length - 1), fc.array(fc.tuple(fc.nat(MUTATIONS.length - 1), fc.nat(10_000), fc.nat(100)), { minLength: 1, maxLength: 3 }))
  .map(([base, mutations]) => {
    const config = structuredClone(BASES[base]) as Record<string, any>
    for (const [which, pick, choice] of mutations) {
      try {
        MUTATIONS[which]!(config, pick, choice)
      } catch {
        // A mutation that no longer applies (its target was dropped or retyped): skip it.
      }
    }
    return config
  })

/** A request path the route's pattern matches (parameters filled in). */
function pathFor(pattern: unknown): string {
  if (typeof pattern !== 'string') return '/'
  return pattern.replace(/:[A-Za-z0-9_]+(\{[^}]*\})?/g, '1').replace(/\*/g, 'x')
}

function expectNamedProblems(problems: string[]): void {
  expect(problems.length).toBeGreaterThan(0)
  for (const problem of problems) expect(problem).toMatch(/^\S[^\n]*?: \S/)
}

/** Builds the config and calls up to three of its routes; none may answer the gateway's own 500. */
async function exercise(config: Record<string, any>): Promise<void> {
  const result = parseConfig(config)
  if (!result.ok) return expectNamedProblems(result.problems)
  let app
  try {
    app = createGateway(result.config, env as unknown as Env, { writeLog: () => {} })
  } catch (err) {
    // The Worker's environment (a binding, a variable) can still refuse a valid config, by field.
    if (!(err instanceof ConfigError)) throw err
    return expectNamedProblems(err.problems)
  }
  for (const route of result.config.routes.slice(0, 3)) {
    const method = route.match.methods?.[0] ?? 'GET'
    const init: RequestInit = { method, headers: { 'x-fuzz': 'a', 'content-type': 'application/json' } }
    if (method !== 'GET' && method !== 'HEAD') init.body = '{"items":[{"sku":"a","qty":1}]}'
    const ctx = createExecutionContext()
    const res = await app.fetch(new Request(`http://gateway.test${pathFor(route.match.path)}`, init), env, ctx)
    await waitOnExecutionContext(ctx)
    const body = await res.text()
    const ownError = res.status === 500 && (res.headers.get('content-type') ?? '').startsWith('application/problem+json')
    expect(ownError, `route ${route.id}: ${body}`).toBe(false)
  }
}

describe('config fuzz', () => {
  it('the unmodified seeds are valid', () => {
    for (const base of BASES) expect(parseConfig(base)).toMatchObject({ ok: true })
  })

  it('mutated configs are refused by field, or build and answer without a 500', async () => {
    // Each case builds a gateway and sends it requests (~0.4 s): 15 under `npm test`, at most 500
    // under `npm run fuzz`, which would otherwise ask for 20,000.
    const options = fuzzOptions(15)
    await fc.assert(fc.asyncProperty(configs, exercise), { ...options, numRuns: Math.min(options.numRuns ?? 15, 500), endOnFailure: true })
  }, 120_000)
})
