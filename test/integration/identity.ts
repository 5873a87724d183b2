/**
 * Real identities for the cross-feature tests: tokens signed by the test issuer (test/node/issuer.ts,
 * one tenant per call), API keys whose hashes are in Worker secrets (config keys) or in KV (created
 * through the admin API). Consumer ids are random: Durable Object names (`consumer=<id>`) are shared
 * by every test file in the pool.
 */
import { env } from 'cloudflare:workers'
import type { JWTPayload } from 'jose'
import { newKey, sign, Tenant } from '../auth/tokens'
import type { TestGateway } from '../support/gateway'
import { sha256Hex } from '../support/gateway'

/** A fresh consumer id with a readable prefix. */
export const consumerId = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 13)}`

export type Issuer = {
  tenant: Tenant
  /** The `issuers[]` entry of a `jwt` policy for this tenant (audience "api"). */
  config: { issuer: string; jwksUrl: string; audience: string }
  /** A token for `sub` (aud "api", valid for 5 minutes); `claims` add or override. */
  token(sub: string | undefined, claims?: JWTPayload): Promise<string>
}

/** A tenant of the test issuer publishing one fresh ES256 key. */
export async function newIssuer(): Promise<Issuer> {
  const tenant = new Tenant()
  const key = await newKey('ES256')
  await tenant.publish(key)
  return {
    tenant,
    config: { issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' },
    token: (sub, claims = {}) => sign(key, tenant.issuer, { sub, ...claims }),
  }
}

/**
 * API keys kept in config: each consumer gets a random key whose SHA-256 is in a Worker secret
 * named by `apiKeySecrets`. Spread `consumers` into the config and `env` into the gateway's env.
 */
export async function configKeys(ids: Record<string, { plan?: string }>) {
  const consumers: Record<string, { plan?: string; apiKeySecrets: string[] }> = {}
  const secrets: Record<string, string> = {}
  const keys: Record<string, string> = {}
  for (const [i, [id, entry]] of Object.entries(ids).entries()) {
    const key = `sk_test_${crypto.randomUUID().replaceAll('-', '')}`
    const secret = `INTEGRATION_KEY_${i}`
    consumers[id] = { ...entry, apiKeySecrets: [secret] }
    secrets[secret] = await sha256Hex(key)
    keys[id] = key
  }
  return { consumers, env: secrets, keys }
}

/** A KV key for `consumer` (which the config must list), created through the admin API. */
export async function kvKey(gw: TestGateway, consumer: string): Promise<string> {
  const res = await gw.fetch('/_edgeway/api-keys', {
    method: 'POST',
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ consumer }),
  })
  if (res.status !== 201) throw new Error(`creating a key: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { key: string }).key
}
