/**
 * The browser's side of CORS, from the Fetch standard (fetch.spec.whatwg.org): the "CORS check"
 * and the checks a CORS-preflight fetch makes. Tests judge the gateway's answers with these
 * instead of with header values the gateway happens to send.
 */

const SAFELISTED_METHODS = new Set(['GET', 'HEAD', 'POST'])

/** Splits a header value into a list (`a, b` -> [a, b]). */
const list = (value: string | null) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)

/** CORS check (Fetch 4.9): does this response let `origin` read it? */
export function corsCheck(res: Response, origin: string, credentials: boolean): boolean {
  const allowOrigin = res.headers.get('access-control-allow-origin')
  if (allowOrigin === null) return false
  if (!credentials && allowOrigin === '*') return true
  if (allowOrigin !== origin) return false
  if (!credentials) return true
  return res.headers.get('access-control-allow-credentials') === 'true'
}

/** A CORS-preflight fetch (Fetch 4.8): does it allow `method` with `headers` from `origin`? */
export function preflightAllows(res: Response, origin: string, credentials: boolean, method: string, headers: string[] = []): boolean {
  if (res.status < 200 || res.status > 299) return false
  if (!corsCheck(res, origin, credentials)) return false
  const methods = list(res.headers.get('access-control-allow-methods'))
  const headerNames = list(res.headers.get('access-control-allow-headers')).map((h) => h.toLowerCase())
  if (!methods.includes(method) && !SAFELISTED_METHODS.has(method) && (credentials || !methods.includes('*'))) return false
  for (const name of headers.map((h) => h.toLowerCase())) {
    // `*` never covers Authorization, and nothing is a wildcard with credentials.
    const wildcard = headerNames.includes('*') && !credentials && name !== 'authorization'
    if (!headerNames.includes(name) && !wildcard) return false
  }
  return true
}

/** Whether `name` is listed in the response's `Vary`. */
export function varies(res: Response, name: string): boolean {
  return list(res.headers.get('vary')).some((v) => v.toLowerCase() === name.toLowerCase() || v === '*')
}
