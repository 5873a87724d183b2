/**
 * References to configured names are own-property lookups: a name every object inherits
 * (`constructor`, `toString`, `hasOwnProperty`, `valueOf`) is no upstream, plan or version. Each kind
 * of reference has its case; each used to pass the check and then fail at run time.
 */
import { describe, expect, it } from 'vitest'
import { baseConfig, configProblems, editedConfig } from '../support/config'

const base = baseConfig
const edit = editedConfig

const problemsOf = configProblems

const known = '(known: orders, billing)'

describe('a name inherited from Object.prototype is no reference', () => {
  it.each(['constructor', 'toString', 'hasOwnProperty'])('route upstream "%s"', (name) => {
    expect(problemsOf(edit((c) => (c.routes[0].action.upstream = name)))).toEqual([`routes[0].action.upstream: unknown upstream "${name}" ${known}`])
  })

  it('split upstream', () => {
    expect(problemsOf(edit((c) => (c.routes[0].action.split = [{ upstream: 'valueOf', weight: 10 }])))).toEqual([
      `routes[0].action.split[0].upstream: unknown upstream "valueOf" ${known}`,
    ])
  })

  it('mirror upstream', () => {
    expect(problemsOf(edit((c) => (c.routes[0].action.mirror = { upstream: 'valueOf' })))).toEqual([
      `routes[0].action.mirror.upstream: unknown upstream "valueOf" ${known}`,
    ])
  })

  it('fallback upstream', () => {
    expect(problemsOf(edit((c) => (c.upstreams.orders.fallback = { upstream: 'constructor' })))).toEqual([
      `upstreams.orders.fallback.upstream: unknown upstream "constructor" ${known}`,
    ])
  })

  it('aggregate call upstream', () => {
    const config = edit((c) => (c.routes[0].action = { type: 'aggregate', calls: [{ name: 'one', upstream: 'valueOf', path: '/x' }] }))
    expect(problemsOf(config)).toEqual([`routes[0].action.calls[0].upstream: unknown upstream "valueOf" ${known}`])
  })

  it('consumer plan', () => {
    const config = edit((c) => {
      c.plans = { gold: { limits: [] } }
      c.consumers = { acme: { plan: 'constructor' } }
    })
    expect(problemsOf(config)).toEqual(['consumers.acme.plan: unknown plan "constructor" (known: gold)'])
  })

  it('route version and default version', () => {
    const config = edit((c) => {
      c.versioning = { default: 'constructor', versions: { v1: {} } }
      c.routes[0].version = 'toString'
    })
    expect(problemsOf(config)).toEqual([
      'routes[0].version: unknown version "toString" (known: v1)',
      'versioning.default: unknown version "constructor" (known: v1)',
    ])
  })

  it('openapi exclude', () => {
    const config = edit((c) => (c.gateway = { openapi: { exclude: ['constructor'] } }))
    expect(problemsOf(config)).toEqual(['gateway.openapi.exclude[0]: unknown route "constructor"'])
  })

  it('a record key every object has is refused, not silently dropped', () => {
    const config = edit((c) => {
      c.upstreams.constructor = { url: 'http://127.0.0.1:9' }
      c.routes[0].action.upstream = 'constructor'
    })
    expect(problemsOf(config)).toEqual([
      'upstreams: "constructor" cannot be a name (it is every object\'s); choose another',
      `routes[0].action.upstream: unknown upstream "constructor" ${known}`,
    ])
  })

  it('other inherited names are fine when they are configured', () => {
    const config = edit((c) => {
      c.upstreams.toString = { url: 'http://127.0.0.1:9' }
      c.routes[0].action.upstream = 'toString'
    })
    expect(problemsOf(config)).toEqual([])
  })
})
