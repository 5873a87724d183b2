/** `http-signature` config: each bad key, component and option named by its exact path; secrets redacted in the admin API. */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { checkEnvironment } from '../../src/config/environment'
import { loadConfig } from '../../src/config/parse'
import { configProblems } from '../support/config'
import { testGateway } from '../support/gateway'

const SECRET = btoa('s'.repeat(32))
const X = 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs'
const hmacKey = { keyId: 'k1', consumer: 'acme', algorithm: 'hmac-sha256', secret: SECRET }
const edKey = { keyId: 'k2', consumer: 'acme', algorithm: 'ed25519', publicKey: { kty: 'OKP', crv: 'Ed25519', x: X } }

function config(policy: Record<string, unknown>) {
  return {
    consumers: { acme: {} },
    routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'http-signature', keys: [hmacKey, edKey], ...policy }], action: { type: 'respond' } }],
  }
}
const problems = (policy: Record<string, unknown>) => configProblems(config(policy))
const at = 'routes[0].policies[0]'

describe('http-signature config', () => {
  it('accepts HMAC and Ed25519 keys (JWK or raw base64) with the defaults', () => {
    expect(problems({})).toEqual([])
    expect(problems({ keys: [{ ...edKey, publicKey: btoa('k'.repeat(32)) }], components: ['@method', '@target-uri', 'content-type'] })).toEqual([])
  })

  it.each([
    ['a short HMAC secret', { keys: [{ ...hmacKey, secret: btoa('short') }] }, `${at}.keys[0].secret: must be at least 32 bytes (base64)`],
    ['an HMAC secret not in base64', { keys: [{ ...hmacKey, secret: 'not base64!' }] }, `${at}.keys[0].secret: must be base64`],
    ['a raw Ed25519 key of the wrong size', { keys: [{ ...edKey, publicKey: btoa('k'.repeat(31)) }] }, `${at}.keys[0].publicKey: must be 32 bytes (base64)`],
    ['an unknown algorithm', { keys: [{ ...hmacKey, algorithm: 'rsa-pss-sha512' }] }, `${at}.keys[0].algorithm: expected one of "hmac-sha256" | "ed25519", received "rsa-pss-sha512"`],
    ['an unknown consumer', { keys: [{ ...hmacKey, consumer: 'nobody' }] }, `${at}.keys[0].consumer: unknown consumer "nobody" (add it under "consumers")`],
    ['a key id listed twice', { keys: [hmacKey, { ...edKey, keyId: 'k1' }] }, `${at}.keys[1].keyId: "k1" is listed twice`],
    ['no keys', { keys: [] }, `${at}.keys: list at least one key`],
    ['an unknown component', { components: ['@method', '@status'] }, `${at}.components[1]: must be a lower-case header name or one of @method, @authority, @path, @query, @target-uri, @scheme, @request-target`],
    ['a component listed twice', { components: ['@method', '@method'] }, `${at}.components[1]: "@method" is listed twice`],
    ['a maxAge over an hour', { maxAge: 7200 }, `${at}.maxAge: Invalid value: Expected <=3600 but received 7200`],
    ['a label that is no structured-field key', { label: 'Sig' }, `${at}.label: must be a structured-field key (lower case)`],
  ])('refuses %s', (_, policy, expected) => {
    expect(problems(policy)).toEqual([expected])
  })

  it('refuses to build without the nonce store binding, naming the field', () => {
    expect(() => testGateway(config({ binding: 'NO_SUCH_BINDING' }) as never)).toThrow(`${at}.binding: no Durable Object binding "NO_SUCH_BINDING"`)
  })

  it('npm run check:config: the nonce store binding must be declared in the wrangler environment (not without nonces)', () => {
    const deploy = { label: '[env.staging]', vars: {}, secrets: new Set<string>(), services: new Set<string>(), durableObjects: new Set(['RATE_LIMITER']), mtlsCertificates: new Set<string>() }
    expect(checkEnvironment(loadConfig(config({}) as never), deploy)).toEqual([
      `${at}.binding: no Durable Object binding "SIGNATURE_NONCES" declared in [env.staging] of wrangler.toml`,
    ])
    expect(checkEnvironment(loadConfig(config({ requireNonce: false }) as never), deploy)).toEqual([])
  })

  it('redacts HMAC secrets, not public keys, in the admin config view', async () => {
    const gw = testGateway(config({}) as never)
    const res = await gw.fetch('/_edgeway/config', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    const text = await res.text()
    expect(text).not.toContain(SECRET)
    const keys = (JSON.parse(text) as any).config.routes[0].policies[0].keys
    expect(keys).toEqual([{ ...hmacKey, secret: '[redacted]' }, edKey])
  })
})
