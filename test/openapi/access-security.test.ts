/** Security schemes of the access policies added for issue 19 in the generated OpenAPI document. */
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi } from '../../src/openapi/document'
import { expectValid } from './helpers'

const HASH = `pbkdf2-sha256$10000$${btoa('s'.repeat(16))}$${btoa('h'.repeat(32))}`

describe('OpenAPI security of access policies', () => {
  it('basic-auth is an http basic scheme naming its realm', () => {
    const config = loadConfig({
      consumers: { acme: {} },
      routes: [
        { id: 'p', match: { path: '/p', methods: ['GET'] }, policies: [{ type: 'basic-auth', realm: 'partners', credentials: [{ username: 'a', passwordHash: HASH, consumer: 'acme' }] }], action: { type: 'respond' } },
      ],
    })
    const doc = buildOpenApi(config, {})
    expectValid(doc)
    expect(doc.components.securitySchemes).toEqual({ basicAuth: { type: 'http', scheme: 'basic', description: 'HTTP Basic, realm "partners"' } })
    expect(doc.paths['/p'].get.security).toEqual([{ basicAuth: [] }])
    expect(JSON.stringify(doc)).not.toContain(HASH)
  })

  it('mtls is a mutualTLS scheme; with basic-auth on the same route both are required', () => {
    const config = loadConfig({
      consumers: { acme: {} },
      routes: [
        {
          id: 'm',
          match: { path: '/m', methods: ['GET'] },
          policies: [
            { type: 'mtls', certificates: [{ subject: 'CN=ci.acme.example', consumer: 'acme' }] },
            { type: 'basic-auth', credentials: [{ username: 'a', passwordHash: HASH, consumer: 'acme' }] },
          ],
          action: { type: 'respond' },
        },
      ],
    })
    const doc = buildOpenApi(config, {})
    expectValid(doc)
    expect(doc.components.securitySchemes.mutualTLS).toEqual({ type: 'mutualTLS', description: 'A client certificate (TLS), verified by Cloudflare' })
    expect(doc.paths['/m'].get.security).toEqual([{ mutualTLS: [], basicAuth: [] }])
  })

  it('a route selected by client address or country is a variant of the route everyone else gets', () => {
    const config = loadConfig({
      routes: [
        { id: 'office', match: { path: '/app', methods: ['GET'], sourceIp: ['203.0.113.0/24'] }, action: { type: 'respond', body: 'office' } },
        { id: 'eu', match: { path: '/app', methods: ['GET'], country: ['DE'] }, action: { type: 'respond', body: 'eu' } },
        { id: 'everyone', match: { path: '/app', methods: ['GET'] }, action: { type: 'respond', body: 'public' } },
      ],
    })
    const op = buildOpenApi(config, {}).paths['/app'].get
    expect(op['x-edgeway-route']).toBe('everyone')
    expect(JSON.parse(JSON.stringify(op['x-edgeway-variants']))).toEqual([
      { route: 'office', when: { sourceIp: ['203.0.113.0/24'] } },
      { route: 'eu', when: { country: ['DE'] } },
    ])
  })
})
