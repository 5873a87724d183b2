/**
 * @module
 * OpenID Connect discovery: finds an issuer's `jwks_uri` from its
 * `/.well-known/openid-configuration`. The document's `issuer` must equal the configured issuer
 * exactly (OpenID Connect Discovery 1.0, section 4.3), or an attacker who controls the document's
 * location could substitute keys of another issuer.
 */
import { FetchJsonError, fetchJson, keyUrlProblem } from './fetch-json'
import type { Runtime } from '../core/runtime'

/** The discovery URL for an issuer: `<issuer>/.well-known/openid-configuration`. */
export function discoveryUrlFor(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
}

/** Fetches the discovery document and returns its validated `jwks_uri`. */
export async function discoverJwksUri(issuer: string, url: string, maxBytes: number, timeoutMs: number, runtime?: Runtime): Promise<string> {
  const doc = await fetchJson(url, maxBytes, timeoutMs, runtime)
  if (typeof doc !== 'object' || doc === null) throw new FetchJsonError('discovery document is not a JSON object')
  const { issuer: claimed, jwks_uri: jwksUri } = doc as Record<string, unknown>
  if (claimed !== issuer) throw new FetchJsonError(`discovery "issuer" ${JSON.stringify(claimed)} does not equal the configured issuer`)
  if (typeof jwksUri !== 'string') throw new FetchJsonError('discovery document has no "jwks_uri"')
  const problem = keyUrlProblem(jwksUri)
  if (problem) throw new FetchJsonError(`discovery "jwks_uri" ${problem}`)
  return jwksUri
}
