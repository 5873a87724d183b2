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
})
