// `npm run smoke -- <gateway url> [--admin-token T] [--openapi /openapi.json] [--max-limit 20]`:
// checks a deployed gateway from outside, as a client sees it. What the config has is read from the
// gateway itself: its OpenAPI document (routes, auth, rate limits, aggregation) and, with the admin
// token, `<admin prefix>/config` (everything, caching included). Each feature found gets a check;
// the table at the end says what passed, what failed and what could not be checked, and why.
// Exits 1 when a check failed, 2 on bad arguments. Every request is bounded in time.
import { parseArgs } from 'node:util'

const USAGE = 'usage: npm run smoke -- <https://gateway.example.com> [--admin-token TOKEN] [--admin-prefix /_edgeway] [--openapi /openapi.json] [--max-limit 20] [--timeout-ms 10000]'
const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'admin-token': { type: 'string' },
    'admin-prefix': { type: 'string', default: '/_edgeway' },
    openapi: { type: 'string' },
    'max-limit': { type: 'string', default: '20' },
    'timeout-ms': { type: 'string', default: '10000' },
  },
})
const base = positionals[0]?.replace(/\/+$/, '')
if (!base || !/^https?:\/\//.test(base)) {
  console.error(USAGE)
  process.exit(2)
}
const TIMEOUT_MS = Number(opts['timeout-ms'])
const MAX_LIMIT = Number(opts['max-limit'])
const PROBLEM = 'application/problem+json'
const results = []
const ok = (check, detail = '') => results.push({ check, result: 'ok', detail })
const fail = (check, detail) => results.push({ check, result: 'FAILED', detail })
const skip = (check, detail) => results.push({ check, result: 'not checked', detail })

/** One request; the answer with its text, JSON (when it is JSON) and time, or a failure reason. */
async function call(path, init = {}) {
  const started = performance.now()
  try {
    const res = await fetch(base + path, { redirect: 'manual', ...init, signal: AbortSignal.timeout(TIMEOUT_MS) })
    const text = await res.text()
    let json
    try { json = JSON.parse(text) } catch {}
    return { status: res.status, headers: res.headers, text, json, ms: performance.now() - started }
  } catch (err) {
    return { status: 0, headers: new Headers(), text: '', error: err.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : err.message, ms: performance.now() - started }
  }
}

const said = (res) => (res.status === 0 ? res.error : `${res.status} ${res.headers.get('content-type') ?? ''} ${res.text.slice(0, 120).replace(/\s+/g, ' ')}`.trim())

/** Why an error answer is not this gateway's problem+json, or undefined when it is. */
function notProblem(res, status, code) {
  if (res.status !== status) return `expected ${status}, got ${said(res)}`
  if (!res.headers.get('content-type')?.startsWith(PROBLEM)) return `expected ${PROBLEM}, got ${said(res)}`
  if (res.json?.status !== status || typeof res.json?.type !== 'string') return `problem body without type/status: ${said(res)}`
  if (code && res.json.code !== code) return `expected code ${code}, got ${res.json.code}`
  return undefined
}

/** A concrete path for a route pattern: parameters and wildcards filled with harmless values. */
function samplePath(pattern) {
  if (pattern.includes('{')) return undefined // a regex parameter: no safe sample
  return pattern.replace(/:[A-Za-z0-9_]+\??/g, '1').replace(/\*$/, 'smoke').replace(/\*/g, 'smoke')
}

/** Routes as the smoke needs them, from the config (admin) or the OpenAPI document. */
function routesFromConfig(config) {
  return (config.routes ?? []).map((r) => ({
    id: r.id,
    path: r.match?.path,
    methods: r.match?.methods ?? ['GET'],
    conditional: Boolean(r.match?.headers || r.match?.query || r.match?.host || (r.version && r.version !== config.versioning?.default)),
    policies: [...(config.policies ?? []).filter((p) => p.type === 'jwt' || p.type === 'api-key'), ...(r.policies ?? [])],
    action: r.action?.type,
  }))
}

function routesFromOpenApi(doc) {
  const routes = new Map()
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops)) {
      const id = op['x-edgeway-route'] ?? `${method} ${path}`
      const route = routes.get(id) ?? { id, path: path.replace(/\{([^}]+)\}/g, ':$1'), methods: [], conditional: false, policies: [], action: op['x-edgeway-aggregate'] ? 'aggregate' : undefined }
      route.methods.push(method.toUpperCase())
      if (op.security?.some((s) => Object.keys(s).length > 0)) route.policies.push({ type: 'auth (from OpenAPI security)' })
      for (const l of op['x-ratelimit'] ?? []) route.policies.push({ type: 'rate-limit', limits: [l], by: l.by })
      routes.set(id, route)
    }
  }
  return [...routes.values()]
}

async function discover() {
  const token = opts['admin-token']
  let config
  if (token) {
    const res = await call(`${opts['admin-prefix']}/config`, { headers: { authorization: `Bearer ${token}` } })
    if (res.status === 200 && res.json?.config) {
      config = res.json.config
      ok('admin /config', `config version ${res.json.version ?? '?'}`)
    } else fail('admin /config', said(res))
    const health = await call(`${opts['admin-prefix']}/health`, { headers: { authorization: `Bearer ${token}` } })
    if (health.status === 200 && health.json?.status === 'ok') ok('health (admin)', `${health.json.routes} routes, ${health.json.upstreams} upstreams`)
    else fail('health (admin)', said(health))
  } else {
    skip('health (admin)', 'needs --admin-token')
  }
  const openapiPath = opts.openapi ?? config?.gateway?.openapi?.path ?? '/openapi.json'
  const doc = await call(openapiPath)
  let routes
  if (doc.status === 200 && typeof doc.json?.openapi === 'string' && doc.json.paths) {
    ok('OpenAPI document', `${openapiPath}: ${Object.keys(doc.json.paths).length} paths`)
    routes = routesFromOpenApi(doc.json)
  } else if (config && !config.gateway?.openapi) {
    skip('OpenAPI document', 'the config publishes none')
  } else if (doc.status === 0 || doc.status >= 500) {
    fail('OpenAPI document', `${openapiPath}: ${said(doc)}`)
  } else {
    skip('OpenAPI document', `${openapiPath}: ${said(doc)} (published elsewhere? pass --openapi)`)
  }
  if (config) routes = routesFromConfig(config)
  return { routes: routes ?? [], config }
}

async function checkErrors() {
  const missing = await call(`/__edgeway-smoke-${Date.now().toString(36)}/missing`)
  const why = notProblem(missing, 404, 'ERR_ROUTE_NOT_FOUND')
  if (why) fail('problem+json: unknown path is 404', why)
  else ok('problem+json: unknown path is 404')
  const bad = await call('/smoke/%2e%2e%2fadmin')
  const badWhy = notProblem(bad, 400, 'ERR_BAD_REQUEST_PATH')
  if (badWhy) fail('problem+json: encoded slash is 400', badWhy)
  else ok('problem+json: encoded slash is 400')
}

/** A plain GET: any answer but a 5xx (a gateway error must be problem+json). */
async function checkRoute(route, path) {
  const res = await call(path)
  if (res.status === 0 || res.status >= 500) return fail(`route ${route.id}`, `GET ${path}: ${said(res)}`)
  if (route.action === 'redirect' && !(res.status >= 300 && res.status < 400 && res.headers.get('location'))) return fail(`route ${route.id}`, `GET ${path}: expected a redirect, got ${said(res)}`)
  ok(`route ${route.id}`, `GET ${path}: ${res.status} in ${Math.round(res.ms)} ms`)
}

async function checkAuth(route, path) {
  const res = await call(path)
  const why = notProblem(res, 401, 'ERR_UNAUTHORIZED')
  if (why) fail(`auth ${route.id}: 401 without credentials`, `GET ${path}: ${why}`)
  else ok(`auth ${route.id}: 401 without credentials`, `GET ${path}`)
}

async function checkCache(route, path) {
  if (/\.workers\.dev$/.test(new URL(base).hostname)) return skip(`cache ${route.id}: MISS then HIT`, 'the Cache API does nothing on *.workers.dev (use a custom domain)')
  const url = `${path}?edgeway-smoke=${Date.now().toString(36)}`
  const first = await call(url)
  const second = await call(url)
  const status = (res) => res.headers.get('cache-status') ?? '(no Cache-Status)'
  if (first.status !== 200) return skip(`cache ${route.id}: MISS then HIT`, `GET ${url}: ${said(first)} (needs a cacheable 200)`)
  if (!/edgeway;[^,]*fwd=/.test(status(first))) return fail(`cache ${route.id}: MISS then HIT`, `first GET: ${status(first)}`)
  if (!/edgeway;\s*hit/.test(status(second))) {
    // Not stored: the origin said so (private, no-store...); the gateway names the reason.
    if (!/stored/.test(status(first))) return skip(`cache ${route.id}: MISS then HIT`, `the origin's answer was not stored: ${status(first)}`)
    return fail(`cache ${route.id}: MISS then HIT`, `stored, yet the second GET was ${status(second)}`)
  }
  ok(`cache ${route.id}: MISS then HIT`, `${status(first)} -> ${status(second)}`)
}

/** Sends up to limit + 1 requests; the last must be a 429 problem+json with Retry-After. */
async function checkLimit(route, path, unlimitedPath) {
  const name = `rate limit ${route.id}: 429 after the limit`
  const limits = route.policies.filter((p) => p.type === 'rate-limit').flatMap((p) => (p.limits ?? []).map((l) => ({ ...l, by: l.by ?? p.by ?? ['ip'] })))
  const smallest = limits.sort((a, b) => a.limit - b.limit)[0]
  if (!smallest) return skip(name, 'only quotas or plans: no small limit to reach')
  if (!smallest.by.every((part) => part === 'ip' || part === 'route')) return skip(name, `keyed by ${JSON.stringify(smallest.by)}: the smoke has no such identity`)
  if (smallest.limit > MAX_LIMIT) return skip(name, `limit ${smallest.limit} is above --max-limit ${MAX_LIMIT}`)
  const times = []
  let last
  for (let i = 0; i <= smallest.limit; i++) {
    last = await call(path)
    if (last.status === 429) break
    if (last.status === 0 || last.status >= 500) return fail(name, `request ${i + 1}: ${said(last)}`)
    times.push(last.ms)
  }
  const why = notProblem(last, 429)
  if (why) return fail(name, `after ${smallest.limit} requests: ${why}`)
  if (!last.headers.get('retry-after')) return fail(name, '429 without Retry-After')
  ok(name, `limit ${smallest.limit} per ${smallest.window ?? '?'} s; 429 ${last.json?.code ?? ''}, Retry-After ${last.headers.get('retry-after')}`)
  if (!unlimitedPath || times.length === 0) return skip('latency: limited vs unlimited', times.length === 0 ? 'the limit was already used up (run again after its window)' : 'no unlimited GET route')
  const others = []
  for (let i = 0; i < Math.max(3, times.length); i++) others.push((await call(unlimitedPath)).ms)
  const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  ok('latency: limited vs unlimited', `median ${Math.round(med(times))} ms (${route.id}, ${times.length} requests) vs ${Math.round(med(others))} ms (${unlimitedPath})`)
}

async function main() {
  console.log(`smoke: ${base}`)
  const { routes, config } = await discover()
  await checkErrors()
  if (routes.length === 0) skip('routes', 'no route list: pass --admin-token, or publish the OpenAPI document')
  const isAuth = (p) => p.type === 'jwt' || p.type === 'api-key' || p.type.startsWith('auth')
  const candidates = routes.map((route) => ({ route, path: route.path && samplePath(route.path) }))
  const unlimited = candidates.find(({ route, path }) => path && !route.conditional && route.methods.includes('GET') && !route.policies.some((p) => isAuth(p) || p.type === 'rate-limit'))
  for (const { route, path } of candidates) {
    if (!path) { skip(`route ${route.id}`, `pattern ${route.path} has no sample path`); continue }
    if (route.conditional) { skip(`route ${route.id}`, 'matched by headers, query, host or a version: a plain GET reaches another route'); continue }
    if (!route.methods.includes('GET')) { skip(`route ${route.id}`, `${route.methods.join(', ')} only: the smoke sends no bodies`); continue }
    if (route.policies.some(isAuth)) { await checkAuth(route, path); continue }
    if (route.policies.some((p) => p.type === 'rate-limit')) { await checkLimit(route, path, unlimited?.path); continue }
    if (route.policies.some((p) => p.type === 'cache')) { await checkCache(route, path); continue }
    await checkRoute(route, path)
  }
  if (!config) skip('cache: MISS then HIT', 'needs --admin-token (the OpenAPI document does not say which routes are cached)')
  else if (!config.routes?.some((r) => r.policies?.some((p) => p.type === 'cache'))) skip('cache: MISS then HIT', 'no route has a cache policy')
}

try {
  await main()
} catch (err) {
  fail('smoke script', err.stack ?? String(err))
}
const width = Math.max(...results.map((r) => r.check.length))
console.log(`\n${'check'.padEnd(width)}  ${'result'.padEnd(11)}  detail`)
for (const r of results) console.log(`${r.check.padEnd(width)}  ${r.result.padEnd(11)}  ${r.detail}`)
const failed = results.filter((r) => r.result === 'FAILED')
const notChecked = results.filter((r) => r.result === 'not checked')
console.log(`\n${results.length - failed.length - notChecked.length} ok, ${failed.length} failed, ${notChecked.length} not checked`)
if (failed.length > 0) console.log(`FAILED: ${failed.map((r) => r.check).join('; ')}`)
process.exit(failed.length > 0 ? 1 : 0)
