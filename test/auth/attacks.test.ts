/**
 * Every known JWT attack, each rejected with a 401 (never a 5xx), a generic reason for the client,
 * and jose's error code in the log line.
 */
import { exportSPKI } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { testGateway, type TestGateway } from '../support/gateway'
import { b64url, bearer, newKey, sign, Tenant, unsecured, type TestKey } from './tokens'

const HMAC_SECRET = 'another-long-hmac-secret-for-the-mixed-issuer'

let tenant: Tenant
let attacker: Tenant
let key: TestKey
let evil: TestKey
let gw: TestGateway
let mixed: TestGateway

beforeAll(async () => {
  tenant = new Tenant()
  attacker = new Tenant()
  key = await newKey('RS256')
  evil = await newKey('RS256')
  await tenant.publish(key)
  await attacker.publish(evil)
  const route = (issuer: Record<string, unknown>) => ({
    routes: [{ id: 'me', match: { path: '/me' }, policies: [{ type: 'jwt' as const, issuers: [issuer as never] }], action: { type: 'respond' as const, body: 'ok' } }],
  })
  gw = testGateway(route({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: ['api', 'api-2'], requiredClaims: ['exp', 'sub'] }))
  // The same keys, plus HS256 allowed with a real secret: confusion must still fail.
  mixed = testGateway(route({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, secret: 'HS', algorithms: ['RS256', 'HS256'] }), { HS: HMAC_SECRET })
  // Warm the key cache so the attacks below are judged on their own.
  expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer)))).status).toBe(200)
})

async function expectRejected(target: TestGateway, token: string, code?: string) {
  const before = target.logs.length
  const res = await target.fetch('/me', bearer(token))
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const body = (await res.json()) as { code: string; detail: string }
  expect(body).toMatchObject({ code: 'ERR_UNAUTHORIZED', detail: 'The bearer token is invalid.' })
  const log = target.logs[before]!
  expect(log.auth).toMatchObject({ via: 'jwt', outcome: 'invalid' })
  if (code) expect((log.auth as { code: string }).code).toBe(code)
}

describe('jwt: attacks', () => {
  it('alg none', async () => {
    await expectRejected(gw, unsecured(tenant.issuer), 'ERR_JOSE_ALG_NOT_ALLOWED')
    await expectRejected(mixed, unsecured(tenant.issuer), 'ERR_JOSE_ALG_NOT_ALLOWED')
  })

  it('RS/HS confusion: HS256 signed with the RSA public key as the secret', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(key.publicKey))
    const forged = await sign({ alg: 'HS256', secret: pem, kid: key.kid }, tenant.issuer)
    await expectRejected(gw, forged, 'ERR_JOSE_ALG_NOT_ALLOWED')
    await expectRejected(mixed, forged, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
  })

  it('an embedded jwk header is ignored', async () => {
    const forged = await sign({ ...evil, kid: key.kid }, tenant.issuer, {}, { header: { jwk: evil.jwk } })
    await expectRejected(gw, forged, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
  })

  it('jku and x5u headers are never followed', async () => {
    await expectRejected(gw, await sign(evil, tenant.issuer, {}, { header: { jku: attacker.jwksUrl } }), 'ERR_JWKS_NO_MATCHING_KEY')
    await expectRejected(gw, await sign(evil, tenant.issuer, {}, { header: { x5u: `${attacker.issuer}/cert.pem` } }), 'ERR_JWKS_NO_MATCHING_KEY')
    expect(await attacker.stats()).toEqual({ jwksFetches: 0, discoveryFetches: 0 })
  })

  it('an unknown crit header', async () => {
    const token = await sign(key, tenant.issuer, {}, { header: { crit: ['x-must-understand'], 'x-must-understand': 1 }, crit: { 'x-must-understand': true } })
    await expectRejected(gw, token, 'ERR_JOSE_NOT_SUPPORTED')
  })

  it('a bad signature', async () => {
    const token = await sign(key, tenant.issuer)
    const [h, p, s] = token.split('.') as [string, string, string]
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
    await expectRejected(gw, `${h}.${p}.${flipped}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
    // A valid signature over another payload.
    const other = (await sign(key, tenant.issuer, { sub: 'admin' })).split('.')[1]
    await expectRejected(gw, `${h}.${other}.${s}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
  })

  it('expired, not yet valid (beyond the clock tolerance)', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectRejected(gw, await sign(key, tenant.issuer, { exp: now - 60 }), 'ERR_JWT_EXPIRED')
    await expectRejected(gw, await sign(key, tenant.issuer, { nbf: now + 120 }), 'ERR_JWT_CLAIM_VALIDATION_FAILED')
    // Within the default 30 s tolerance: accepted.
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { exp: now - 5 })))).status).toBe(200)
  })

  it('wrong iss, wrong aud, missing required claims', async () => {
    await expectRejected(gw, await sign(key, 'https://other.example'), 'ERR_JWT_UNKNOWN_ISSUER')
    await expectRejected(gw, await sign(key, tenant.issuer, { iss: undefined }), 'ERR_JWT_UNKNOWN_ISSUER')
    await expectRejected(gw, await sign(key, tenant.issuer, { aud: 'someone-else' }), 'ERR_JWT_CLAIM_VALIDATION_FAILED')
    expect((await gw.fetch('/me', bearer(await sign(key, tenant.issuer, { aud: ['x', 'api-2'] })))).status).toBe(200)
    await expectRejected(gw, await sign(key, tenant.issuer, { sub: undefined }), 'ERR_JWT_CLAIM_VALIDATION_FAILED')
    await expectRejected(gw, await sign(key, tenant.issuer, { exp: undefined }), 'ERR_JWT_CLAIM_VALIDATION_FAILED')
  })

  it('malformed base64, malformed JSON, three-part garbage', async () => {
    const payload = b64url(JSON.stringify({ iss: tenant.issuer }))
    await expectRejected(gw, 'a.b.c', 'ERR_JWT_INVALID')
    await expectRejected(gw, `e30.${payload.slice(0, -3)}!!!.sig`, 'ERR_JWT_INVALID')
    await expectRejected(gw, `${b64url('{"alg":"RS256"')}.${payload}.c2ln`, 'ERR_JWS_INVALID')
    await expectRejected(gw, `${b64url('{"alg":"RS256"}')}.${b64url('{not json')}.c2ln`, 'ERR_JWT_INVALID')
    await expectRejected(gw, `${b64url('{"alg":"RS256"}')}.${payload}.%%%`, 'ERR_JWS_INVALID')
    await expectRejected(gw, 'only-one-part', 'ERR_JWT_INVALID')
    await expectRejected(gw, `${b64url('{"alg":"RS256"}')}.${payload}.sig.extra.parts`, 'ERR_JWT_INVALID')
  })

  it('a token over the size cap is rejected before any key is fetched', async () => {
    const cold = new Tenant()
    const coldGw = testGateway({
      routes: [{ id: 'me', match: { path: '/me' }, policies: [{ type: 'jwt', issuers: [{ issuer: cold.issuer, discovery: true }], token: { maxBytes: 1024 } }], action: { type: 'respond', body: 'ok' } }],
    })
    const token = await sign(key, cold.issuer, { padding: 'x'.repeat(2000) })
    await expectRejected(coldGw, token, 'ERR_JWT_TOO_LARGE')
    // The default cap is 8 KB.
    await expectRejected(gw, await sign(key, tenant.issuer, { padding: 'x'.repeat(9000) }), 'ERR_JWT_TOO_LARGE')
    expect(await cold.stats()).toEqual({ jwksFetches: 0, discoveryFetches: 0 })
  })

  it('a missing token: 401 without an error code in the challenge', async () => {
    for (const init of [{}, { headers: { authorization: 'Basic dXNlcjpwYXNz' } }, { headers: { authorization: 'Bearer ' } }]) {
      const res = await gw.fetch('/me', init)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer')
      expect(((await res.json()) as { detail: string }).detail).toBe('A bearer token is required.')
    }
  })

  it('never answers 5xx to any of these', async () => {
    const statuses = gw.logs.map((line) => line.status)
    expect(statuses.length).toBeGreaterThan(20)
    expect(statuses.filter((s) => s! >= 500)).toEqual([])
  })
})
