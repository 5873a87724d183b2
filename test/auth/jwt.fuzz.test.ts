/**
 * Property tests of JWT parsing through a gateway with a `jwt` policy (src/auth/): random bytes,
 * garbage tokens and well-formed tokens with random headers are always a 401 problem+json, never a
 * 5xx; tokens really signed by the issuer's key but carrying random claims are never a 5xx either.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { testGateway, type TestGateway } from '../support/gateway'
import { fuzzOptions } from '../support/fuzz'
import { b64url, newKey, sign, Tenant, type TestKey } from './tokens'

let gw: TestGateway
let tenant: Tenant
let key: TestKey

beforeAll(async () => {
  tenant = new Tenant()
  key = await newKey('ES256', 'fuzz-key')
  await tenant.publish(key)
  gw = testGateway({
    routes: [{
      id: 'me',
      match: { path: '/me' },
      policies: [{ type: 'jwt', issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] }],
      action: { type: 'respond', body: { sub: '{claims.sub}' } },
    }],
  })
})

const bytesB64url = (bytes: Uint8Array) => b64url(String.fromCharCode(...bytes))
/** Header text (visible ASCII and space; workerd warns on each non-ASCII value and sends it as UTF-8 anyway). */
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 120 })
const segment = fc.oneof(fc.uint8Array({ maxLength: 64 }).map(bytesB64url), fc.string({ maxLength: 20 }).map((s) => b64url(unescape(encodeURIComponent(s)))), fc.constantFrom('', '.', '=', '+/', 'e30', 'bnVsbA'))
const jsonValue = fc.jsonValue({ maxDepth: 2 })
const header = fc.oneof(
  fc.record({ alg: fc.oneof(fc.constantFrom('ES256', 'RS256', 'HS256', 'none', 'EdDSA', 'PS512', ''), jsonValue), kid: fc.oneof(fc.constant('fuzz-key'), jsonValue), typ: jsonValue, crit: jsonValue, jku: fc.constantFrom('http://127.0.0.1:1/x', 'x') }, { requiredKeys: [] }),
  jsonValue,
)
const encodedJson = (value: unknown) => b64url(unescape(encodeURIComponent(JSON.stringify(value) ?? 'null')))
const garbageToken = fc.oneof(
  headerText,
  fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
  fc.tuple(header, jsonValue, segment).map(([h, p, s]) => `${encodedJson(h)}.${encodedJson(p)}.${s}`),
)
const authorization = fc.oneof(
  garbageToken.map((t) => `Bearer ${t}`),
  fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER', 'Basic', 'Bearer  ', ''), garbageToken).map(([scheme, t]) => `${scheme} ${t}`),
  headerText,
)

async function expectProblem401(res: Response) {
  expect(res.status).toBe(401)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(((await res.json()) as { code: string }).code).toBe('ERR_UNAUTHORIZED')
}

describe('jwt, fuzzed', () => {
  it('random bytes and garbage tokens are a 401 problem+json, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(authorization, async (value) => {
        let headers: Headers
        try {
          headers = new Headers({ authorization: value })
        } catch {
          return // not a header value any client could send
        }
        await expectProblem401(await gw.fetch('/me', { headers }))
      }),
      fuzzOptions(300),
    )
  })

  it('tokens signed with the real key but random claims are never a 5xx', async () => {
    const claims = fc.record({ iss: fc.oneof(fc.constant(tenant.issuer), jsonValue), aud: fc.oneof(fc.constant('api'), jsonValue), sub: jsonValue, exp: fc.oneof(fc.constant(undefined), jsonValue, fc.integer()), nbf: fc.oneof(fc.constant(undefined), jsonValue), iat: fc.oneof(fc.constant(undefined), jsonValue) }, { requiredKeys: [] })
    await fc.assert(
      fc.asyncProperty(claims, async (payload) => {
        const res = await gw.fetch('/me', { headers: { authorization: `Bearer ${await sign(key, tenant.issuer, payload as never)}` } })
        expect(res.status).toBeLessThan(500)
        if (res.status !== 200) await expectProblem401(res)
      }),
      fuzzOptions(100),
    )
  })
})
