// The full pipeline written by hand (issue 16): what the `full-pipeline` scenario's route does
// (JWT + rate limit + cache miss + proxy), in the fewest lines that keep the same promises, so the
// bench can show what that work costs on this platform apart from what the gateway adds. It is the
// pass-through's twin (`./pass-through.js`: the lean worker's steps, the origin call of
// `./origin-call.js`) plus, each as the gateway does it:
// - JWT (ES256): the key from the JWKS, fetched once; a verified signature remembered per token
//   (bounded, never past `exp`); issuer, audience, exp/nbf checked on every request;
// - rate limit: the request's unit taken from an in-memory count (what a lease is between asks;
//   the object behind it is left out, so this is a floor, not an equal);
// - cache (scope: consumer): a lookup under a key that names the consumer; on a miss, the origin's
//   answer stored when it says it may be (`public, max-age`), a small body before the answer leaves
//   (as the gateway does: the client's next request finds it, and `Cache-Status: stored` is true);
//   `Cache-Status` set; the key's text hashed (SHA-256), so no consumer id or query value is in it.
// The binding STEPS (a list, default "jwt rate-limit cache") makes it another scenario's twin:
// "jwt" for `jwt`, "cache" for `cache-miss` (no consumer: the key is the URL's alone).
// Bindings (text): TARGET_URL, JWKS_URL, ISSUER, AUDIENCE, STEPS (optional).
import { hex } from '../lean-worker.js'
import { logLine, problem, send, upstreamHeaders } from './origin-call.js'

// JWT: base64url, the JWKS's keys by kid, signatures already verified (token -> exp, bounded).
const fromB64url = (s) => Uint8Array.from(atob(s.replaceAll('-', '+').replaceAll('_', '/')), (c) => c.charCodeAt(0))
const decoder = new TextDecoder()
const encoder = new TextEncoder()
let keys
const verified = new Map()
const MAX_VERIFIED = 10_000
async function keyFor(env, kid) {
  keys ??= fetch(env.JWKS_URL).then((r) => r.json()).then(async (jwks) => {
    const byKid = new Map()
    for (const jwk of jwks.keys) byKid.set(jwk.kid, await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']))
    return byKid
  })
  return (await keys).get(kid)
}
async function claimsOf(request, env, nowS) {
  const auth = request.headers.get('authorization') ?? ''
  if (!auth.startsWith('Bearer ')) return undefined
  const token = auth.slice(7)
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  let header, claims
  try {
    header = JSON.parse(decoder.decode(fromB64url(parts[0])))
    claims = JSON.parse(decoder.decode(fromB64url(parts[1])))
  } catch {
    return undefined
  }
  if (header.alg !== 'ES256') return undefined
  if (verified.get(token) === undefined) {
    const key = await keyFor(env, header.kid)
    if (!key) return undefined
    const ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, fromB64url(parts[2]), encoder.encode(`${parts[0]}.${parts[1]}`))
    if (!ok) return undefined
    if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value)
    verified.set(token, claims.exp)
  }
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
  if (claims.iss !== env.ISSUER || !aud.includes(env.AUDIENCE)) return undefined
  if (typeof claims.exp !== 'number' || claims.exp <= nowS || (typeof claims.nbf === 'number' && claims.nbf > nowS)) return undefined
  return claims
}

// Rate limit: units per consumer per second, in memory (a lease's local spend).
const LIMIT = 1_000_000_000
const counts = new Map()
function take(consumer, nowS) {
  const slot = counts.get(consumer)
  if (slot === undefined || slot.second !== nowS) {
    counts.set(consumer, { second: nowS, used: 1 })
    return LIMIT - 1
  }
  if (slot.used >= LIMIT) return -1
  return LIMIT - ++slot.used
}

export default {
  async fetch(request, env, ctx) {
    const started = Date.now()
    const nowS = Math.floor(started / 1000)
    const requestId = crypto.randomUUID()
    const url = new URL(request.url)
    const steps = env.STEPS ?? 'jwt rate-limit cache'
    const claims = steps.includes('jwt') ? await claimsOf(request, env, nowS) : {}
    if (!claims) return problem(401, 'Unauthorized', requestId)
    const counted = steps.includes('rate-limit')
    const remaining = counted ? take(claims.sub, nowS) : 0
    if (remaining < 0) return problem(429, 'Too Many Requests', requestId)
    const rateLimit = `"bench";r=${remaining};t=1`

    // The cache key names the consumer: one consumer's answer is never another's. Its text is
    // hashed, as docs/cache.md promises: no consumer id or query value appears in a key.
    const cached = steps.includes('cache')
    const keyText = `${url.host}\n${claims.sub === undefined ? 'shared' : `consumer:${claims.sub}`}\nGET ${url.pathname}${url.search}`
    const cacheKey = cached ? new Request(`${url.origin}/__cache/${hex(new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(keyText))))}`) : undefined
    const cache = caches.default
    const hit = cached ? await cache.match(cacheKey) : undefined
    if (hit) {
      const res = new Response(hit.body, hit)
      res.headers.set('X-Request-Id', requestId)
      if (counted) res.headers.set('RateLimit', rateLimit)
      res.headers.set('Cache-Status', 'edgeway; hit')
      console.log(JSON.stringify({ requestId, method: request.method, path: url.pathname, routeId: 'api', consumer: claims.sub, cache: 'hit', status: res.status, durationMs: Date.now() - started }))
      return res
    }

    const { headers, traceId, spanId } = upstreamHeaders(request, url, requestId)
    if (claims.sub !== undefined) {
      headers.delete('authorization')
      headers.set('X-Consumer-Id', claims.sub)
    }
    const upstreamLog = { name: 'origin', target: env.TARGET_URL }
    const record = { requestId, method: request.method, path: url.pathname, traceId, spanId, routeId: 'api', consumer: claims.sub, cache: cached ? 'miss' : undefined, upstream: upstreamLog }
    const writeLog = logLine(record, started)
    const sent = await send(env.TARGET_URL + url.pathname + url.search, { method: request.method, headers, body: request.body }, request, () => writeLog(499))
    if (!sent.res) {
      const res = problem(sent.error, sent.error === 504 ? 'Gateway Timeout' : 'Bad Gateway', requestId)
      writeLog(res.status)
      return res
    }
    const res = sent.res
    upstreamLog.status = res.status
    const cacheControl = res.headers.get('cache-control') ?? ''
    if (cached && request.method === 'GET' && res.status === 200 && /\bpublic\b/.test(cacheControl) && /\bmax-age=\d+/.test(cacheControl)) {
      if (sent.bytes !== undefined) await cache.put(cacheKey, new Response(sent.bytes, res))
      else ctx.waitUntil(cache.put(cacheKey, res.clone()))
    }
    res.headers.set('X-Request-Id', requestId)
    if (counted) res.headers.set('RateLimit', rateLimit)
    if (cached) res.headers.set('Cache-Status', 'edgeway; fwd=miss; stored')
    writeLog(res.status)
    return res
  },
}
