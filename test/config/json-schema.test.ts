/** The committed edgeway.schema.json must be what `npm run schema` generates from src/config/schema.ts. */
import { describe, expect, it } from 'vitest'
import committed from '../../edgeway.schema.json'
import demo from '../../config/demo.json'
import { gatewayJsonSchema } from '../../src/config/json-schema'

describe('edgeway.schema.json', () => {
  it('is up to date (run `npm run schema` after changing src/config/schema.ts)', () => {
    expect(JSON.parse(JSON.stringify(committed))).toEqual(gatewayJsonSchema())
  })

  it('describes the config: strict objects, required routes, the policy types', () => {
    const schema = gatewayJsonSchema() as { type: string; required: string[]; additionalProperties: boolean; properties: Record<string, unknown> }
    expect(schema.type).toBe('object')
    expect(schema.required).toEqual(['routes'])
    expect(schema.additionalProperties).toBe(false)
    expect(Object.keys(schema.properties)).toEqual(['$schema', 'gateway', 'versioning', 'upstreams', 'consumers', 'plans', 'policies', 'routes'])
    expect(JSON.stringify(schema)).toContain('"request-id"')
    expect(demo.$schema).toBe('../edgeway.schema.json')
  })
})
