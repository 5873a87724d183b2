/** The JSON Schema's word on `purge.cacheSeconds` matches what it bounds (docs/cache.md, "Hits from memory"). */
import { describe, expect, it } from 'vitest'
import { gatewayJsonSchema } from '../../src/config/json-schema'

/** Every `purge.cacheSeconds` description in the schema (the cache policy's and a cached call's). */
function purgeCacheSecondsDocs(node: unknown, found: string[] = []): string[] {
  if (typeof node !== 'object' || node === null) return found
  const purge = (node as { properties?: { purge?: { properties?: { cacheSeconds?: { description?: string } } } } }).properties?.purge
  const description = purge?.properties?.cacheSeconds?.description
  if (description !== undefined) found.push(description)
  for (const child of Object.values(node)) purgeCacheSecondsDocs(child, found)
  return found
}

describe('purge.cacheSeconds in edgeway.schema.json', () => {
  it('says it also bounds how long a fresh entry kept in memory outlives another isolate\'s delete', () => {
    const docs = purgeCacheSecondsDocs(gatewayJsonSchema())
    expect(docs.length).toBeGreaterThan(0)
    for (const doc of docs) {
      expect(doc).toMatch(/generation/)
      expect(doc).toMatch(/memory/)
      expect(doc).toMatch(/another isolate/)
    }
  })
})
