/**
 * @module
 * The signing keys of the `http-signature` policy: each `keyId` (the signature's `keyid`) names a
 * configured consumer and an algorithm, `hmac-sha256` with a shared secret (base64, at least 32
 * bytes, marked secret so the admin API's `/config` redacts it) or `ed25519` with a public key (a
 * JWK or the 32 raw bytes in base64). Keys are imported into Web Crypto once, on first use, and
 * kept per config and isolate; verification is `crypto.subtle.verify`, which compares HMACs in
 * constant time.
 */
import * as v from 'valibot'
import { errorOf, checkedString, Name } from '../core/schema'
import { Secret } from '../core/secret'

const base64Bytes = (text: string): Uint8Array => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error('must be base64')
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
}

function hmacSecretProblem(text: string): string | undefined {
  return errorOf(() => {
    if (base64Bytes(text).length < 32) throw new Error('must be at least 32 bytes (base64)')
  })
}

/** Other JWK members (`kid`, `use`, `alg`) are allowed and ignored: only `x` is the key. */
const Ed25519Jwk = v.looseObject({
  kty: v.literal('OKP'),
  crv: v.literal('Ed25519'),
  x: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes in base64url')),
})

const Ed25519Raw = checkedString((text) =>
  errorOf(() => {
    if (base64Bytes(text).length !== 32) throw new Error('must be 32 bytes (base64)')
  }),
)

const KeyId = v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters'))
const ConsumerName = v.pipe(Name, v.description(SCHEMA_DOCS ? 'The configured consumer this key signs for.' : ''))

export const SigningKeySchema = v.variant('algorithm', [
  v.strictObject({
    keyId: KeyId,
    consumer: ConsumerName,
    algorithm: v.literal('hmac-sha256'),
    secret: Secret(v.pipe(checkedString(hmacSecretProblem), v.description(SCHEMA_DOCS ? 'The shared secret, base64, at least 32 bytes.' : ''))),
  }),
  v.strictObject({
    keyId: KeyId,
    consumer: ConsumerName,
    algorithm: v.literal('ed25519'),
    publicKey: v.pipe(v.union([Ed25519Jwk, Ed25519Raw], 'must be an Ed25519 JWK ({ "kty": "OKP", "crv": "Ed25519", "x": ... }) or 32 bytes in base64'), v.description(SCHEMA_DOCS ? 'The public key: a JWK or 32 raw bytes in base64.' : '')),
  }),
])

export type SigningKey = v.InferOutput<typeof SigningKeySchema>

/** A configured key, ready to verify: the consumer it is and a verifier over the signature base. */
export type KeyVerifier = { consumer: string; algorithm: SigningKey['algorithm']; verify(signature: Uint8Array, base: string): Promise<boolean> }

function importKey(key: SigningKey): Promise<CryptoKey> {
  if (key.algorithm === 'hmac-sha256') {
    return crypto.subtle.importKey('raw', base64Bytes(key.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
  }
  const { publicKey } = key
  return typeof publicKey === 'string'
    ? crypto.subtle.importKey('raw', base64Bytes(publicKey), { name: 'Ed25519' }, false, ['verify'])
    : crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: publicKey.x }, { name: 'Ed25519' }, false, ['verify'])
}

/** Verifiers by key id, each importing its key once, when first used. */
export function keyVerifiers(keys: SigningKey[]): Map<string, KeyVerifier> {
  return new Map(
    keys.map((key) => {
      let imported: Promise<CryptoKey> | undefined
      const algorithm = key.algorithm === 'hmac-sha256' ? 'HMAC' : 'Ed25519'
      const verifier: KeyVerifier = {
        consumer: key.consumer,
        algorithm: key.algorithm,
        async verify(signature, base) {
          // Both algorithms make fixed-size signatures; workerd throws on a wrong-size Ed25519 one.
          if (signature.length !== (key.algorithm === 'ed25519' ? 64 : 32)) return false
          imported ??= importKey(key)
          return crypto.subtle.verify(algorithm, await imported, signature, new TextEncoder().encode(base))
        },
      }
      return [key.keyId, verifier]
    }),
  )
}
