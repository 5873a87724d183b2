/**
 * @module
 * Hashing and byte encodings used across the gateway: SHA-256 (key hashes, cache keys, config
 * versions, rate-limit keys), hex, and UTF-8 percent-encoding.
 */
const utf8 = new TextEncoder()

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', utf8.encode(text)))
}

/** The two hex digits of each byte value: `toHex` runs on every API key check, so one lookup a byte. */
const HEX_PAIRS = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)
  let out = ''
  for (let i = 0; i < view.length; i++) out += HEX_PAIRS[view[i]!]
  return out
}

/** The SHA-256 of `text` in hex, optionally only its first `bytes` bytes. */
export async function sha256Hex(text: string, bytes = 32): Promise<string> {
  return toHex((await sha256(text)).slice(0, bytes))
}

/** `%XX` (upper-case hex) for each UTF-8 byte of `text`. */
export function percentEncodeUtf8(text: string): string {
  let out = ''
  for (const byte of utf8.encode(text)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  return out
}
