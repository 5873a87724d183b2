/**
 * @module
 * Where a bearer token is taken from: the `Authorization: Bearer` header (default), another header,
 * or a cookie. The size cap is checked here, before any decoding or crypto: an oversized token
 * costs the gateway nothing but a length check.
 */
export type TokenSource = {
  /** Header carrying the token; `Authorization` means the `Bearer` scheme. */
  header: string
  /** Cookie carrying the token, tried when the header is absent. */
  cookie?: string | undefined
  maxBytes: number
}

export type ExtractedToken = { token: string } | { missing: true } | { tooLarge: true }

function cookieValue(cookieHeader: string, name: string): string | undefined {
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function extractToken(headers: Headers, source: TokenSource): ExtractedToken {
  let token: string | undefined
  const value = headers.get(source.header)
  if (value !== null) {
    if (value.length > source.maxBytes + 7) return { tooLarge: true }
    if (source.header.toLowerCase() === 'authorization') {
      // Another scheme (Basic, ...) carries no bearer token: RFC 6750 treats it as missing.
      const match = /^Bearer +([^ ]+) *$/i.exec(value)
      token = match?.[1]
    } else token = value.trim()
  }
  if (token === undefined && source.cookie !== undefined) {
    const cookies = headers.get('cookie')
    if (cookies !== null) token = cookieValue(cookies, source.cookie)
  }
  if (token === undefined || token === '') return { missing: true }
  if (token.length > source.maxBytes) return { tooLarge: true }
  return { token }
}
