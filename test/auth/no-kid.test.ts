/**
 * Tokens without a `kid` when several keys of their `alg` are published: jose reports
 * `JWKSMultipleMatchingKeys` and the gateway tries each candidate, for remote and static keys.
 */
import { describe, expect, it } from 'vitest'
import { issuerGateway } from './helpers'
import { bearer, newKey, sign, Tenant, type TestKey } from './tokens'

const gateway = (issuer: Record<string, unknown>, env: Record<string, unknown> = {}) => issuerGateway(issuer, { env })

/** A key published and used without a `kid`. */
async function keyWithoutKid(alg: string): Promise<TestKey> {
  const key = await newKey(alg)
  const { kid: _kid, ...jwk } = key.jwk
  return { ...key, kid: undefined as unknown as string, jwk }
}

describe('tokens without kid', () => {
  it('JWKS with two RS256 keys and no kids: the second key verifies, an unknown key is 401', async () => {
    const tenant = new Tenant()
    const [first, second, unknown] = [await keyWithoutKid('RS256'), await keyWithoutKid('RS256'), await keyWithoutKid('RS256')]
    await tenant.publish(first, second)
    const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl })
    expect((await gw.fetch('/me', bearer(await sign(second, tenant.issuer)))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await sign(first, tenant.issuer)))).status).toBe(200)
    const bad = await gw.fetch('/me', bearer(await sign(unknown, tenant.issuer)))
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(gw.logs[2]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })
  })

  it('a matching key with a failing claim gives that claim\'s error, not another try', async () => {
    const tenant = new Tenant()
    const [first, second] = [await keyWithoutKid('RS256'), await keyWithoutKid('RS256')]
    await tenant.publish(first, second)
    const gw = gateway({ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl })
    const now = Math.floor(Date.now() / 1000)
    expect((await gw.fetch('/me', bearer(await sign(second, tenant.issuer, { iat: now - 600, exp: now - 300 })))).status).toBe(401)
    expect(gw.logs[0]!.auth).toMatchObject({ outcome: 'invalid', code: 'ERR_JWT_EXPIRED' })
  })

  it('static keys from secrets: two keys without kid, the second verifies, an unknown key is 401', async () => {
    const [first, second, unknown] = [await keyWithoutKid('ES256'), await keyWithoutKid('ES256'), await keyWithoutKid('ES256')]
    const gw = gateway(
      { issuer: 'https://static-nokid.example', keys: [{ secret: 'K1' }, { secret: 'K2' }] },
      { K1: JSON.stringify(first.jwk), K2: JSON.stringify(second.jwk) },
    )
    expect((await gw.fetch('/me', bearer(await sign(second, 'https://static-nokid.example')))).status).toBe(200)
    expect((await gw.fetch('/me', bearer(await sign(unknown, 'https://static-nokid.example')))).status).toBe(401)
  })
})
