/** The `http-signature` policy in the generated OpenAPI document: the `Signature` header with what it must cover; no secret. */
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi } from '../../src/openapi/document'
import { expectValid } from './helpers'

const SECRET = btoa('s'.repeat(32))

describe('OpenAPI security of http-signature', () => {
  it('is an apiKey scheme on the Signature header naming the covered components', () => {
    const config = loadConfig({
      consumers: { acme: {} },
      routes: [{
        id: 's', match: { path: '/s', methods: ['POST'] },
        policies: [{ type: 'http-signature', components: ['@method', '@target-uri'], keys: [{ keyId: 'k', consumer: 'acme', algorithm: 'hmac-sha256', secret: SECRET }] }],
        action: { type: 'respond' },
      }],
    })
    const doc = buildOpenApi(config, {})
    expectValid(doc)
    expect(doc.components.securitySchemes).toEqual({
      httpSignature: {
        type: 'apiKey', in: 'header', name: 'Signature',
        description: 'An HTTP message signature (RFC 9421: Signature-Input and Signature) covering @method, @target-uri, and content-digest (RFC 9530) when there is a body',
        'x-covered-components': ['@method', '@target-uri'],
      },
    })
    expect(doc.paths['/s'].post.security).toEqual([{ httpSignature: [] }])
    expect(JSON.stringify(doc)).not.toContain(SECRET)
  })
})
