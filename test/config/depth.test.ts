/** A config value nested deeper than `MAX_CONFIG_DEPTH` is refused with its path, before anything recurses through it. */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse'
import { MAX_CONFIG_DEPTH } from '../../src/core/json-depth'

/** `{ "a": { "a": ... leaf } }`, `levels` objects deep. */
function nested(levels: number, leaf: unknown = 1): unknown {
  let value = leaf
  for (let i = 0; i < levels; i++) value = { a: value }
  return value
}

const withBody = (body: unknown) => ({ routes: [{ id: 'r', match: { path: '/r' }, action: { type: 'respond', body } }] })

describe('config depth', () => {
  it('a respond body nested 20,000 levels deep is a problem, not a stack overflow', () => {
    const result = parseConfig(withBody(nested(20_000)))
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problems).toHaveLength(1)
    expect(result.problems[0]).toMatch(/^routes\[0\]\.action\.body(\.a)+: nested too deeply \(at most 64 levels of objects and arrays\)$/)
  })

  it('arrays count too, and the path names where the bound was passed', () => {
    let value: unknown = 'x'
    for (let i = 0; i < 5_000; i++) value = [value]
    const result = parseConfig({ routes: [], consumers: { acme: { metadata: { deep: value } } } })
    expect(result.ok ? [] : result.problems).toEqual([`consumers.acme.metadata.deep${'[0]'.repeat(MAX_CONFIG_DEPTH - 4)}: nested too deeply (at most 64 levels of objects and arrays)`])
  })

  it('a value just within the bound is fine', () => {
    // The config object, routes, the route, its action: 4 levels above the body.
    expect(parseConfig(withBody(nested(MAX_CONFIG_DEPTH - 4))).ok).toBe(true)
  })
})
