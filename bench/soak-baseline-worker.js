// The soak's baseline (`npm run soak -- --baseline`): the smallest hand-written Worker that does the
// same work per request as the gateway under bench/soak-config.mjs, run under its own raw workerd
// beside it, at the same rate, on the same origins. What its memory does over the soak is what
// workerd costs for this work; what the gateway's does beyond that is ours.
//   /jwt/*        verify the ES256 token (Web Crypto, the JWKS fetched once and kept), proxy to main
//   /limited/*    a Durable Object RPC per request (a window log in SQLite, keyed by IP), then proxy
//   /cacheable/*  caches.default match; on a miss fetch, put a copy (waitUntil), answer
//   /aggregate/:id  two fetches at once (main, the pool), merged into one JSON body
//   /pool/*       proxy to the pool's two targets in turn, the other tried on a failure, a target
//                 left out for 5 s after 3 failures in a row
// Every request writes one JSON log line, as the gateway's request log does. Upstream failures are
// answered as problem+json with the gateway's codes, so the soak classifies both alike.
// Bindings (text): MAIN_URL, STEADY_URL, FLAKY_URL, JWKS_URL, ISSUER, AUDIENCE, LIMIT_PER_SECOND
// (soak-config.mjs's); LIMITER (the Durable Object).
import { DurableObject } from 'cloudflare:workers'

const WINDOW_MS = 1000

export class Limiter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env)
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS hits (at INTEGER NOT NULL)')
  }

  /** Counts a hit in a sliding window of 1 s kept in SQLite; true when allowed. */
  hit() {
    const limit = Number(this.env.LIMIT_PER_SECOND)
    const sql = this.ctx.storage.sql
    const now = Date.now()
    sql.exec('DELETE FROM hits WHERE at <= ?', now - WINDOW_MS)
    const count = sql.exec('SELECT count(*) AS n FROM hits').one().n
    if (count >= limit) return false
    sql.exec('INSERT INTO hits (at) VALUES (?)', now)
    return true
  }
}

const problem = (status, code) => Response.json({ type: 'about:blank', status, code }, { status, headers: { 'content-type': 'application/problem+json' } })

function b64urlBytes(text) {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0))
}
const b64urlJson = (text) => JSON.parse(new TextDecoder().decode(b64urlBytes(text)))

// Per isolate: the JWKS's keys by kid, fetched on first use and kept (the JWKS says max-age=600;
// the soak's key never changes).
let keys
async function keyFor(env, kid) {
  keys ??= fetch(env.JWKS_URL)
    .then((r) => r.json())
    .then(async ({ keys: list }) => new Map(await Promise.all(list.map(async (jwk) => [jwk.kid, await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify'])]))))
    .catch((err) => { keys = undefined; throw err })
  return (await keys).get(kid)
}

async function verifyToken(request, env) {
  const token = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
  const parts = token?.split('.') ?? []
  if (parts.length !== 3) return false
  try {
    const header = b64urlJson(parts[0])
    const key = header.alg === 'ES256' ? await keyFor(env, header.kid) : undefined
    if (!key) return false
    const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`)
    if (!(await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, b64urlBytes(parts[2]), signed))) return false
    const claims = b64urlJson(parts[1])
    const now = Date.now() / 1000
    return claims.iss === env.ISSUER && claims.aud === env.AUDIENCE && claims.exp > now && typeof claims.sub === 'string'
  } catch {
    return false
  }
}

/** `promise`, or a TimeoutError after `ms`; the timer goes either way. */
function withTimeout(promise, ms) {
  let timer
  const timeout = new Promise((_, fail) => { timer = setTimeout(() => fail(new DOMException('timed out', 'TimeoutError')), ms) })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Fetches `base + path` with the gateway's header and total timeouts for the upstream. */
async function upstream(base, path, request, { headersMs, totalMs }) {
  const headers = new Headers(request.headers)
  headers.delete('host')
  const response = await fetch(base + path, { method: request.method, headers, signal: AbortSignal.timeout(headersMs) })
  return new Response(await withTimeout(response.text(), Math.max(1, totalMs - headersMs)), response)
}

const failureCode = (err) => (err?.name === 'TimeoutError' ? 'ERR_UPSTREAM_TIMEOUT' : 'ERR_UPSTREAM_UNREACHABLE')

// Per isolate: the pool's turn and each target's failures in a row and ejection time.
const pool = { turn: 0, targets: [{ key: 'STEADY_URL', failures: 0, ejectedUntil: 0 }, { key: 'FLAKY_URL', failures: 0, ejectedUntil: 0 }] }

async function fromPool(env, path, request) {
  const now = Date.now()
  const live = pool.targets.filter((t) => t.ejectedUntil <= now)
  const order = live.length > 0 ? live : pool.targets
  const first = pool.turn++ % order.length
  let last
  for (let attempt = 0; attempt < Math.min(3, order.length + 1); attempt++) {
    const target = order[(first + attempt) % order.length]
    try {
      const response = await upstream(env[target.key], path, request, { headersMs: 1000, totalMs: 3000 })
      if (response.status < 500) {
        target.failures = 0
        return response
      }
      last = problem(502, 'ERR_UPSTREAM_BAD_RESPONSE')
    } catch (err) {
      last = problem(err?.name === 'TimeoutError' ? 504 : 502, failureCode(err))
    }
    if (++target.failures >= 3) target.ejectedUntil = Date.now() + 5000
    await new Promise((r) => setTimeout(r, 10)) // the retry's backoff
  }
  return last
}

async function proxyMain(env, url, request) {
  try {
    return await upstream(env.MAIN_URL, url.pathname + url.search, request, { headersMs: 2000, totalMs: 4000 })
  } catch (err) {
    return problem(err?.name === 'TimeoutError' ? 504 : 502, failureCode(err))
  }
}

async function cached(env, url, request, ctx) {
  const cache = caches.default
  const hit = await cache.match(request)
  if (hit) return hit
  const response = await proxyMain(env, url, request)
  if (response.status === 200) ctx.waitUntil(cache.put(request, response.clone()))
  return response
}

async function aggregate(env, id, request) {
  const call = async (run) => {
    const response = await withTimeout(run(), 1500)
    if (!response.ok) throw new Error(`status ${response.status}`)
    return response.json()
  }
  const [item, pooled] = await Promise.allSettled([
    call(() => upstream(env.MAIN_URL, `/items/${id}`, request, { headersMs: 1500, totalMs: 3000 })),
    call(() => fromPool(env, `/pooled/${id}`, request)),
  ])
  const errors = [item, pooled].filter((r) => r.status === 'rejected').map((r) => String(r.reason?.message ?? r.reason))
  return Response.json({ item: item.value ?? null, pooled: pooled.value ?? null, ...(errors.length > 0 && { errors }) })
}

async function route(request, env, ctx, url) {
  const path = url.pathname
  if (path.startsWith('/jwt/')) return (await verifyToken(request, env)) ? proxyMain(env, url, request) : problem(401, 'ERR_UNAUTHORIZED')
  if (path.startsWith('/limited/')) {
    const ip = request.headers.get('cf-connecting-ip') ?? 'unknown'
    const allowed = await env.LIMITER.get(env.LIMITER.idFromName(ip)).hit()
    return allowed ? proxyMain(env, url, request) : problem(429, 'ERR_RATE_LIMITED')
  }
  if (path.startsWith('/cacheable/')) return cached(env, url, request, ctx)
  const id = /^\/aggregate\/([^/]+)$/.exec(path)?.[1]
  if (id) return aggregate(env, id, request)
  if (path.startsWith('/pool/')) return fromPool(env, path + url.search, request)
  return problem(404, 'ERR_NOT_FOUND')
}

export default {
  async fetch(request, env, ctx) {
    const started = Date.now()
    const url = new URL(request.url)
    const response = await route(request, env, ctx, url)
    console.log(JSON.stringify({ requestId: crypto.randomUUID(), method: request.method, path: url.pathname, status: response.status, durationMs: Date.now() - started }))
    return response
  },
}
