/**
 * The OpenAPI document says exactly what the gateway does: `validate` schemas with local
 * references resolve inside the document, `scopesMatch: "any"` reads as "any", and each operation
 * declares the refusals its policies and action can give (403, 429, 502/504) and its security,
 * `[]` when there is none.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi } from '../../src/openapi/document'
import { originConfig, testGateway } from '../support/gateway'
import { expectValid, unresolvedRefs } from './helpers'

type Routes = GatewayConfigInput['routes']
const documentOf = (routes: Routes, policies: GatewayConfigInput['policies'] = []) => {
  const doc = buildOpenApi(loadConfig(originConfig({ routes, policies })), {})
  expectValid(doc)
  return doc
}
const JWT = { type: 'jwt' as const, issuers: [{ issuer: 'https://idp.example', secret: 'JWT_HMAC', algorithms: ['HS256' as const] }] }
const proxy = { type: 'proxy', upstream: 'origin' } as const

describe('validate schemas with local references', () => {
  const tagged = {
    type: 'object',
    required: ['tags'],
    properties: { tags: { type: 'array', items: { $ref: '#/$defs/tag' } }, owner: { $ref: '#/definitions/user' } },
    $defs: { tag: { type: 'string', maxLength: 20 }, 'a/b': { type: 'integer' } },
    definitions: { user: { type: 'object', properties: { id: { $ref: '#/$defs/a~1b' }, manager: { $ref: '#/definitions/user' } } } },
  }

  it('their definitions move to components/schemas and the references follow (was: pointing at the document root)', () => {
    const doc = documentOf([{ id: 'tags', match: { path: '/tags', methods: ['POST'] }, policies: [{ type: 'validate', body: tagged }], action: proxy }])
    const schema = doc.paths['/tags'].post.requestBody.content['application/json'].schema
    expect(schema).toEqual({
      type: 'object',
      required: ['tags'],
      properties: { tags: { type: 'array', items: { $ref: '#/components/schemas/tags.body.tag' } }, owner: { $ref: '#/components/schemas/tags.body.user' } },
    })
    expect(doc.components.schemas).toEqual({
      'tags.body.tag': { type: 'string', maxLength: 20 },
      'tags.body.a_b': { type: 'integer' },
      'tags.body.user': { type: 'object', properties: { id: { $ref: '#/components/schemas/tags.body.a_b' }, manager: { $ref: '#/components/schemas/tags.body.user' } } },
    })
    // The old document, for comparison: the body's references name nothing in it.
    expect(unresolvedRefs({ paths: { '/tags': { post: { requestBody: { content: { 'application/json': { schema: tagged } } } } } } })).toEqual(['#/$defs/tag', '#/definitions/user', '#/$defs/a~1b', '#/definitions/user'])
  })

  it('a reference to the schema itself publishes it whole; query definitions and response schemas are moved too', () => {
    const tree = { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } }, name: { $ref: '#/properties/label' }, label: { type: 'string' } } }
    const query = { type: 'object', properties: { sort: { $ref: '#/$defs/order' } }, $defs: { order: { enum: ['asc', 'desc'] } } }
    const doc = documentOf([
      { id: 'tree', match: { path: '/tree', methods: ['PUT'] }, policies: [{ type: 'validate', body: tree, query, responses: { '200': tagged } }], action: proxy },
    ])
    const op = doc.paths['/tree'].put
    expect(op.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/tree.body' })
    expect(doc.components.schemas['tree.body'].properties.children.items).toEqual({ $ref: '#/components/schemas/tree.body' })
    expect(doc.components.schemas['tree.body'].properties.name).toEqual({ $ref: '#/components/schemas/tree.body/properties/label' })
    expect(op.parameters).toEqual([{ name: 'sort', in: 'query', required: false, schema: { $ref: '#/components/schemas/tree.query.order' } }])
    expect(op.responses['200'].content['application/json'].schema.properties.tags.items).toEqual({ $ref: '#/components/schemas/tree.response.200.tag' })
  })

  it('the gateway validates with the schema as written', async () => {
    const gw = testGateway(originConfig({ routes: [{ id: 'tags', match: { path: '/tags', methods: ['POST'] }, policies: [{ type: 'validate', body: tagged }], action: { type: 'respond' } }] }))
    const send = (body: unknown) => gw.fetch('/tags', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect((await send({ tags: ['a'] })).status).toBe(200)
    expect((await send({ tags: ['x'.repeat(21)] })).status).toBe(400)
  })
})

describe('security and the refusals each operation declares', () => {
  it('scopesMatch "any": one requirement per scope (one requirement lists scopes that are all needed)', () => {
    const doc = documentOf([
      { id: 'any', match: { path: '/any', methods: ['GET'] }, policies: [{ ...JWT, scopes: ['read', 'admin'], scopesMatch: 'any', token: { cookie: 'session' } }], action: proxy },
      { id: 'all', match: { path: '/all', methods: ['GET'] }, policies: [{ ...JWT, scopes: ['read', 'admin'] }], action: proxy },
    ])
    expect(doc.paths['/any'].get.security).toEqual([{ jwt: ['read'] }, { jwt: ['admin'] }, { jwtCookie: ['read'] }, { jwtCookie: ['admin'] }])
    expect(doc.paths['/all'].get.security).toEqual([{ jwt: ['read', 'admin'] }])
  })

  it('403 where scopes or IP rules can refuse; security [] on public operations', () => {
    const doc = documentOf([
      { id: 'scoped', match: { path: '/scoped', methods: ['GET'] }, policies: [{ ...JWT, scopes: ['read'] }], action: proxy },
      { id: 'signed', match: { path: '/signed', methods: ['GET'] }, policies: [JWT], action: proxy },
      { id: 'office', match: { path: '/office', methods: ['GET'] }, policies: [{ type: 'ip-rules', allow: ['10.0.0.0/8'] }], action: proxy },
      { id: 'open', match: { path: '/open', methods: ['GET'] }, action: proxy },
    ])
    const status = (path: string) => Object.keys(doc.paths[path].get.responses).sort()
    expect(status('/scoped')).toEqual(['401', '403', 'default'])
    expect(status('/signed')).toEqual(['401', 'default'])
    expect(status('/office')).toEqual(['403', 'default'])
    expect(doc.paths['/office'].get.security).toEqual([])
    expect(doc.paths['/open'].get.security).toEqual([])
  })

  it('aggregate routes declare 502 and 504; limited routes (by their own or a global policy) 429', () => {
    const limit = { type: 'rate-limit' as const, limits: [{ name: 'l', limit: 5, window: 10 }] }
    const doc = documentOf([
      { id: 'agg', match: { path: '/agg/:id', methods: ['GET'] }, action: { type: 'aggregate', calls: [{ name: 'a', upstream: 'origin', path: '/a/{params.id}' }] } },
      { id: 'limited', match: { path: '/limited', methods: ['GET'] }, policies: [limit], action: proxy },
    ])
    expect(doc.paths['/agg/{id}'].get.responses).toMatchObject({ '200': expect.anything(), '502': { content: { 'application/problem+json': expect.anything() } }, '504': expect.anything() })
    expect(Object.keys(doc.paths['/limited'].get.responses)).toEqual(['429', 'default'])
    const global = documentOf([{ id: 'r', match: { path: '/r', methods: ['GET'] }, action: proxy }], [limit])
    expect(Object.keys(global.paths['/r'].get.responses)).toEqual(['429', 'default'])
  })
})
