/** A JSON request body nested deeper than `MAX_BODY_DEPTH` is a 400 problem+json for `transform` and `validate`, not a 500. */
import { describe, expect, it } from 'vitest'
import { MAX_BODY_DEPTH } from '../../src/core/json-depth'
import { originConfig, testGateway } from '../support/gateway'

const post = (body: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/json' } })
const arrays = (levels: number) => '['.repeat(levels) + ']'.repeat(levels)

function gateway(policy: Record<string, unknown>) {
  return testGateway(originConfig({ routes: [{ id: 'r', match: { path: '/r' }, policies: [policy as never], action: { type: 'proxy', upstream: 'origin', path: '/echo' } }] }))
}

const TREE = { $ref: '#/$defs/node', $defs: { node: { type: 'array', items: { $ref: '#/$defs/node' } } } }

describe('deeply nested request bodies', () => {
  for (const [name, policy] of [
    ['transform', { type: 'transform', request: { body: { set: { added: true } } } }],
    ['validate', { type: 'validate', body: TREE }],
  ] as const) {
    it(`${name}: 200,000 levels is a 400`, async () => {
      const res = await gateway(policy).fetch('/r', post(arrays(200_000)))
      expect(res.status).toBe(400)
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
      const problem = (await res.json()) as { detail: string }
      expect(problem.detail).toBe(`The JSON body nests deeper than ${MAX_BODY_DEPTH} levels of objects and arrays.`)
    })

    it(`${name}: a body within the bound goes through`, async () => {
      const res = await gateway(policy).fetch('/r', post(name === 'transform' ? '{"a":[[[1]]]}' : arrays(MAX_BODY_DEPTH)))
      expect(res.status).toBe(200)
    })
  }
})
