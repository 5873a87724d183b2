/**
 * @module
 * The dashboard's session cookie. A browser can't send the admin bearer token on a page load, so
 * `POST {prefix}/login` trades the token for a cookie holding only an expiry time and its HMAC.
 * The HMAC key is derived (HKDF) from the admin token: rotating the token ends every session, and
 * the cookie carries nothing that reveals the token.
 *
 * Cookie: `edgeway_session=<expiry seconds>.<base64url HMAC-SHA256>`; HttpOnly, SameSite=Strict,
 * Path=<admin prefix>, Secure except on http://localhost.
 */
export const SESSION_COOKIE = 'edgeway_session'
export const SESSION_SECONDS = 8 * 60 * 60

const encoder = new TextEncoder()
const FORMAT = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/

/**
 * Keys by admin token (one, or two around a rotation); the key, never a pending promise, is kept.
 * Per isolate, not per config: a key depends on the token alone, so a reload changes nothing.
 */
const keys = new Map<string, CryptoKey>()

async function keyFor(token: string): Promise<CryptoKey> {
  const known = keys.get(token)
  if (known) return known
  const material = await crypto.subtle.importKey('raw', encoder.encode(token), 'HKDF', false, ['deriveKey'])
  const key = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: encoder.encode('edgeway'), info: encoder.encode('dashboard-session-v1') },
    material,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign', 'verify'],
  )
  if (keys.size > 4) keys.clear()
  keys.set(token, key)
  return key
}

const message = (expires: number) => encoder.encode(`edgeway-dashboard-session.${expires}`)

function base64url(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0))
}

/** A cookie value valid until `expires` (seconds since the epoch). */
export async function signSession(token: string, expires: number): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await keyFor(token), message(expires))
  return `${expires}.${base64url(mac)}`
}

/** True when `value` was signed with this token's key and has not expired. Never throws. */
export async function verifySession(token: string, value: string | undefined, nowMs: number): Promise<boolean> {
  const m = value === undefined ? null : FORMAT.exec(value)
  if (!m) return false
  const expires = Number(m[1])
  const now = Math.floor(nowMs / 1000)
  if (expires <= now || expires > now + SESSION_SECONDS + 60) return false
  try {
    return await crypto.subtle.verify('HMAC', await keyFor(token), fromBase64url(m[2]!), message(expires))
  } catch {
    return false
  }
}

/** The `Set-Cookie` value for a session (or, with `value` empty, one that removes it). */
export function sessionCookie(value: string, url: URL, path: string, maxAge: number): string {
  const local = url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
  return `${SESSION_COOKIE}=${value}; Path=${path}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${local ? '' : '; Secure'}`
}
