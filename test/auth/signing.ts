/**
 * A client that signs requests per RFC 9421, written independently of the gateway's verifier
 * (its own signature base and serialisation), with real Web Crypto keys.
 */

export const b64 = (bytes: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(bytes)))

export type ClientKey = { keyId: string; algorithm: 'hmac-sha256' | 'ed25519'; signingKey: CryptoKey; config: Record<string, unknown> }

/** A fresh HMAC key: its config entry (the base64 secret) and the client's key. */
export async function hmacClientKey(keyId: string, consumer = 'acme'): Promise<ClientKey> {
  const secret = crypto.getRandomValues(new Uint8Array(32))
  const signingKey = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return { keyId, algorithm: 'hmac-sha256', signingKey, config: { keyId, consumer, algorithm: 'hmac-sha256', secret: b64(secret) } }
}

/** A fresh Ed25519 key pair: its config entry (the public JWK, or raw base64) and the client's private key. */
export async function ed25519ClientKey(keyId: string, consumer = 'acme', form: 'jwk' | 'raw' = 'jwk'): Promise<ClientKey> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const publicKey = form === 'jwk'
    ? ((({ kty, crv, x }) => ({ kty, crv, x }))((await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey))
    : b64((await crypto.subtle.exportKey('raw', pair.publicKey)) as ArrayBuffer)
  return { keyId, algorithm: 'ed25519', signingKey: pair.privateKey, config: { keyId, consumer, algorithm: 'ed25519', publicKey } }
}

export type SignOptions = {
  components: string[]
  created: number
  expires?: number
  nonce?: string
  alg?: string
  label?: string
  /** Override the `keyid` parameter (default: the key's). */
  keyId?: string
}

/** What a component is worth in a signature base, by RFC 9421 §2. */
function componentValue(name: string, method: string, url: URL, headers: Headers): string {
  switch (name) {
    case '@method': return method
    case '@authority': return url.host
    case '@path': return url.pathname
    case '@query': return url.search || '?'
    case '@target-uri': return url.href
    case '@scheme': return url.protocol.replace(':', '')
    case '@request-target': return url.pathname + url.search
    default: return name.startsWith('@') ? '' : headers.get(name)!.trim()
  }
}

/** `Signature-Input` and `Signature` for a request, signed with `key`. */
export async function signRequest(key: ClientKey, method: string, url: string, headers: Record<string, string>, options: SignOptions): Promise<Record<string, string>> {
  const target = new URL(url)
  const all = new Headers(headers)
  let params = `(${options.components.map((c) => `"${c}"`).join(' ')});created=${options.created}`
  if (options.expires !== undefined) params += `;expires=${options.expires}`
  if (options.nonce !== undefined) params += `;nonce="${options.nonce}"`
  params += `;keyid="${options.keyId ?? key.keyId}"`
  if (options.alg !== undefined) params += `;alg="${options.alg}"`
  const base = [...options.components.map((c) => `"${c}": ${componentValue(c, method, target, all)}`), `"@signature-params": ${params}`].join('\n')
  const data = new TextEncoder().encode(base)
  const signature = key.algorithm === 'hmac-sha256'
    ? await crypto.subtle.sign('HMAC', key.signingKey, data)
    : await crypto.subtle.sign('Ed25519', key.signingKey, data)
  const label = options.label ?? 'sig1'
  return { ...headers, 'signature-input': `${label}=${params}`, signature: `${label}=:${b64(signature)}:` }
}

/** An RFC 9530 `Content-Digest` value for `body`. */
export async function contentDigest(body: string, algorithm: 'sha-256' | 'sha-512' = 'sha-256'): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm.toUpperCase(), new TextEncoder().encode(body))
  return `${algorithm}=:${b64(digest)}:`
}
