/**
 * `http-signature` against the published test vectors of RFC 9421 appendix B: the request of B.2
 * signed by B.2.5 (HMAC-SHA256, the shared secret of B.1.5) and B.2.6 (Ed25519, the key of
 * B.1.4), through the gateway at the signatures' own `created` time; plus the structured-field
 * serialisation the signature base relies on.
 */
import { describe, expect, it } from 'vitest'
import { parseDictionary, serializeInnerList, type InnerList } from '../../src/auth/structured-fields'
import { contentDigestProblem } from '../../src/auth/content-digest'
import { testGateway } from '../support/gateway'
import { manualRuntime } from '../support/runtime'

const CREATED = 1618884473
const B15_SHARED_SECRET = 'uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=='
const B14_ED25519_JWK = { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' }
const B2_BODY = '{"hello": "world"}'
const B2_HEADERS = {
  date: 'Tue, 20 Apr 2021 02:07:55 GMT',
  'content-type': 'application/json',
  'content-digest': 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:',
  'content-length': '18',
}
const B25 = {
  'signature-input': 'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
  signature: 'sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:',
}
const B26 = {
  'signature-input': 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
  signature: 'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:',
}

function vectorGateway(options: Record<string, unknown>) {
  return testGateway(
    {
      consumers: { rfc: {} },
      routes: [{
        id: 'foo', match: { path: '/foo' },
        policies: [{
          type: 'http-signature', requireNonce: false, contentDigest: false, maxAge: 60, ...options,
          keys: [
            { keyId: 'test-shared-secret', consumer: 'rfc', algorithm: 'hmac-sha256', secret: B15_SHARED_SECRET },
            { keyId: 'test-key-ed25519', consumer: 'rfc', algorithm: 'ed25519', publicKey: B14_ED25519_JWK },
          ],
        } as never],
        action: { type: 'respond', body: '{consumer.id}' },
      }],
    },
    {},
    { runtime: manualRuntime({ start: CREATED * 1000 + 2000 }) },
  )
}

const send = (gw: ReturnType<typeof vectorGateway>, signed: Record<string, string>, change: Record<string, string> = {}) =>
  gw.fetch('http://example.com/foo?param=Value&Pet=dog', { method: 'POST', headers: { ...B2_HEADERS, ...signed, ...change }, body: B2_BODY })

describe('RFC 9421 appendix B vectors', () => {
  it('B.2.5: verifies the published HMAC-SHA256 signature, and refuses it with a changed covered header', async () => {
    const gw = vectorGateway({ components: ['@authority'] })
    const res = await send(gw, B25)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('rfc')
    expect((await send(gw, B25, { date: 'Wed, 21 Apr 2021 02:07:55 GMT' })).status).toBe(401)
  })

  it('B.2.6: verifies the published Ed25519 signature, and refuses it for another path', async () => {
    const gw = vectorGateway({})
    expect((await send(gw, B26)).status).toBe(200)
    const moved = await gw.fetch('http://example.com/foo/?param=Value&Pet=dog', { method: 'POST', headers: { ...B2_HEADERS, ...B26 }, body: B2_BODY })
    expect(moved.status).not.toBe(200)
  })

  it('B.2.6 is refused once older than maxAge, and without content-digest when the body must be covered', async () => {
    expect((await send(vectorGateway({ maxAge: 1, clockSkew: 0 }), B26)).status).toBe(401)
    expect((await send(vectorGateway({ contentDigest: true }), B26)).status).toBe(401)
  })

  it('the B.2 Content-Digest (sha-512) matches its body; any other body does not', async () => {
    const bytes = (text: string) => new TextEncoder().encode(text)
    expect(await contentDigestProblem(B2_HEADERS['content-digest'], bytes(B2_BODY))).toBeUndefined()
    expect(await contentDigestProblem(B2_HEADERS['content-digest'], bytes('{"hello": "World"}'))).toBe('ERR_CONTENT_DIGEST_MISMATCH')
    expect(await contentDigestProblem('md5=:AAAA:', bytes(B2_BODY))).toBe('ERR_CONTENT_DIGEST_UNSUPPORTED')
    expect(await contentDigestProblem('sha-256=("x")', bytes(B2_BODY))).toBe('ERR_CONTENT_DIGEST_MALFORMED')
  })
})

describe('structured fields', () => {
  it.each([
    '("@method" "@authority");created=1618884473;keyid="test-key-ed25519"',
    '("date" "x-h");created=1;expires=2;nonce="a\\"b\\\\c";tag=tok;flag;off=?0',
    '()',
  ])('serialises %s back exactly as parsed', (list) => {
    const member = parseDictionary(`sig=${list}`).get('sig') as InnerList
    expect(serializeInnerList(member)).toBe(list)
  })

  it('reads several members with optional whitespace, byte sequences and booleans', () => {
    const parsed = parseDictionary('a=:YWJj: ,\tb, c=?0;x=1')
    expect([...parsed.keys()]).toEqual(['a', 'b', 'c'])
    expect(parsed.get('a')).toEqual({ value: new TextEncoder().encode('abc'), params: new Map() })
    expect(parsed.get('b')).toEqual({ value: true, params: new Map() })
    expect(parsed.get('c')).toEqual({ value: false, params: new Map([['x', 1]]) })
  })

  it.each(['a=', 'a=(', 'A=1', 'a=1,', 'a=1.5', 'a="\u0001"', 'a=:abc:', 'a=("x"x)', 'a=1234567890123456', 'a=?2', ',a=1'])('refuses %j', (text) => {
    expect(() => parseDictionary(text)).toThrow()
  })
})
