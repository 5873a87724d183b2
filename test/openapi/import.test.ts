/**
 * `npm run import:openapi`'s conversion: the sample document (test/fixtures/petstore.yaml) becomes
 * a config that validates, routes to the real test origin, and validates bodies as the document says.
 */
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import petstore from '../fixtures/petstore.yaml?raw'
import { importOpenApi } from '../../scripts/openapi/convert'
import { parseConfig } from '../../src/config/parse'
import { newTag, ORIGIN, originLog, testGateway, type Echo } from '../support/gateway'

const doc = parse(petstore)

describe('OpenAPI import', () => {
  it('produces a config that validates, one route per operation, upstream from servers[0]', () => {
    const { config, notes } = importOpenApi(doc)
    expect(parseConfig(config)).toMatchObject({ ok: true })
    expect(config.upstreams).toEqual({ petstore: { url: 'https://petstore.example.com/v1' } })
    expect(config.routes.map((r: { id: string; match: unknown }) => [r.id, r.match])).toEqual([
      ['listPets', { path: '/pets', methods: ['GET'] }],
      ['createPet', { path: '/pets', methods: ['POST'] }],
      ['showPet', { path: '/pets/:pet_id', methods: ['GET'] }],
      ['deletePet', { path: '/pets/:pet_id', methods: ['DELETE'] }],
    ])
    expect(notes).toContain('security scheme "apiKey" (apiKey): the gateway equivalent is { "type": "api-key", "header": "X-API-Key" }')
  })

  it('the imported config routes to the origin, keeping the document\'s paths', async () => {
    const { config } = importOpenApi(doc, { upstream: `pets=${ORIGIN}/echo`, prefix: '/petstore' })
    const gw = testGateway(config)
    const tag = newTag()
    const res = await gw.fetch('/petstore/pets/rex%20the%20dog?x=1', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).url).toBe('/echo/pets/rex%20the%20dog?x=1')
    expect((await gw.fetch('/petstore/pets/1', { method: 'PUT' })).status).toBe(405)
    expect((await originLog(tag)).length).toBe(1)
  })

  it('request bodies are validated with the component schemas, in JSON Schema 2020-12', async () => {
    const gw = testGateway(importOpenApi(doc, { upstream: `pets=${ORIGIN}/echo` }).config)
    const ok = await gw.fetch('/pets', { method: 'POST', body: JSON.stringify({ name: 'Rex', tag: null, age: 1, owner: { email: 'a@b' } }), headers: { 'content-type': 'application/json', 'x-test-tag': newTag() } })
    expect(ok.status).toBe(200)
    const bad = await gw.fetch('/pets', { method: 'POST', body: JSON.stringify({ name: '', age: 0, owner: {}, color: 'red' }), headers: { 'content-type': 'application/json' } })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { errors: unknown[] }).errors).toEqual([
      { in: 'body', path: '/name', message: 'String is too short (0 < 1).' },
      { in: 'body', path: '/age', message: '0 is less than 0.' },
      { in: 'body', path: '/owner/email', message: 'is required' },
      { in: 'body', path: '/color', message: 'is not allowed' },
    ])
    const query = await gw.fetch('/pets?limit=0', { headers: { 'X-Request-Source': 'fax' } })
    expect(((await query.json()) as { errors: { path: string }[] }).errors.map((e) => e.path)).toEqual(['/limit', '/x-request-source'])
  })

  it('refuses what it cannot import, saying why', () => {
    expect(() => importOpenApi({ swagger: '2.0' })).toThrow('not an OpenAPI 3.0 or 3.1 document (no "openapi": "3.x.y")')
    expect(() => importOpenApi({ ...doc, servers: [{ url: '/api' }] })).toThrow('servers[0].url "/api" is not an absolute http(s) URL: give the upstream with --upstream name=url')
    expect(() => importOpenApi(doc, { upstream: 'no-url' })).toThrow('--upstream must be name=url, not "no-url"')
    expect(() => importOpenApi({ ...doc, paths: { '/a': { post: { requestBody: { content: { 'application/json': { schema: { $ref: 'other.yaml#/X' } } } } } } } })).toThrow(
      'unsupported schema reference "other.yaml#/X"',
    )
  })
})
