/**
 * @module
 * Password hashes for `basic-auth`: PBKDF2-SHA256 through Web Crypto, written
 * `pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>` (`npm run hash:password` makes one).
 *
 * Iterations are capped at 100,000: Cloudflare's Web Crypto refuses more (local workerd accepts
 * more, so a config that works in tests would fail every login in production). The salt is at
 * least 16 bytes and the hash 32 (SHA-256's length), so a short or truncated hash can't pass.
 */

export const HASH_SCHEME = 'pbkdf2-sha256'
export const MAX_ITERATIONS = 100_000
export const MIN_ITERATIONS = 10_000
const MIN_SALT_BYTES = 16
const HASH_BYTES = 32

export type PasswordHash = { iterations: number; salt: Uint8Array; hash: Uint8Array }

function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0))
  } catch {
    return undefined
  }
}

/** Reads a stored hash; throws with a config-ready message when it isn't one we can use. */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split('$')
  const shape = `must be "${HASH_SCHEME}$<iterations>$<salt>$<hash>" (base64 salt and hash; make one with "npm run hash:password")`
  if (parts.length !== 4 || parts[0] !== HASH_SCHEME || !/^[1-9]\d{0,9}$/.test(parts[1]!)) throw new Error(shape)
  const iterations = Number(parts[1])
  if (iterations > MAX_ITERATIONS) throw new Error(`${iterations} iterations is more than Cloudflare's Web Crypto allows (at most ${MAX_ITERATIONS})`)
  if (iterations < MIN_ITERATIONS) throw new Error(`${iterations} iterations is too few to slow guessing (at least ${MIN_ITERATIONS})`)
  const salt = fromBase64(parts[2]!)
  const hash = fromBase64(parts[3]!)
  if (!salt || !hash) throw new Error(shape)
  if (salt.length < MIN_SALT_BYTES) throw new Error(`the salt must be at least ${MIN_SALT_BYTES} bytes (found ${salt.length})`)
  if (hash.length !== HASH_BYTES) throw new Error(`the hash must be ${HASH_BYTES} bytes (found ${hash.length})`)
  return { iterations, salt, hash }
}

/** PBKDF2-SHA256 of `password` (UTF-8) with `salt`, 32 bytes. */
export async function derivePasswordHash(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, HASH_BYTES * 8)
  return new Uint8Array(bits)
}

/** Whether `password` is the one `stored` was made from, compared in constant time. */
export async function passwordMatches(password: string, stored: PasswordHash): Promise<boolean> {
  const derived = await derivePasswordHash(password, stored.salt, stored.iterations)
  return crypto.subtle.timingSafeEqual(derived, stored.hash)
}
