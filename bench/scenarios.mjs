// ================================================================================================
//  BENCH SCENARIOS — the one file to adjust when a feature lands (or its option names change).
// ================================================================================================
// A scenario is a gateway config, the request to send, and what to compare it with. Adding one is
// a few lines. Fields:
//   name, title
//   requires        features it needs (`policy:jwt`, `action:aggregate`); when the checkout lacks one
//                   the scenario is skipped with "feature not present" (not failed)
//   config(ctx)     the gateway config (JSON). ctx.origins.{main,slow20,slow40,slow60,tail10} are origin
//                   URLs; ctx.jwks.{url,issuer,audience}, ctx.token (a signed ES256 JWT), ctx.apiKey
//                   and ctx.apiKeyHash (hex SHA-256) are there for auth scenarios
//   secrets(ctx)    optional Worker secrets/vars (text bindings) by name
//   durableObjects  optional [{ className, binding }] exported by src/worker.ts (SQLite-backed)
//   request(ctx)    { method, path | path(i) (a function gives a new path per request), headers }
//   expect          { status, header?: [name, regex] }: checked before measuring (after `prime` requests)
//   prime           requests sent before measuring (e.g. to fill the cache for a cache hit)
//   baseline        the bare worker's origin: 'main' (default) or e.g. 'slow60'
//   metric          'rps' (default: req/s ratio, higher is better) or 'latency' (p50 ratio, lower is better)
//   peer            compare with fast-gateway too, with these policies: { jwt?: true, rateLimit?: true }
//   against         { name, patches }: compare with the same config bundled from patched source (the
//                   code before a change) instead of the bare worker; `patches` as in PROFILE_SCENARIOS
//   targets         the issue's targets for this row, checked in the report
//   leanTargets     targets against the lean worker (bench/lean-worker.js), measured in the same
//                   rounds as the bare worker for every scenario on the plain origin
//   versus          compare with the gateway of another scenario (e.g. 'pass-through') instead of the bare worker
//   extra({ url, request, log, smoke, gateway })  measured after the comparison; its `summary` is printed
//   measureOnly     skip the comparison: only `extra` (for runs that expect 429s)
//   patches         source edits applied while bundling (bench-only stand-ins, see `objectCalls`)
//   inspector       open the gateway's V8 inspector (`gateway.inspector` in `extra`: its heap, `heapAfterGc`)
//
// Every config is validated with src/config/parse.ts before it runs: a renamed option fails the
// smoke run in CI with the exact problem, so this file can't silently drift from the features.
// ================================================================================================

import { pbkdf2Sync } from 'node:crypto'
import { heapAfterGc } from './lib/inspector.mjs'
import { measure } from './lib/load.mjs'

const HUGE_LIMIT = 100_000 // never reached: the scenario measures the Durable Object round trip

const proxyRoute = (policies = []) => ({ id: 'api', match: { path: '/*' }, policies, action: { type: 'proxy', upstream: 'origin' } })
const origin = (ctx) => ({ origin: { url: ctx.origins.main } })
const bearer = (ctx) => ({ authorization: `Bearer ${ctx.token}` })
// Raw workerd has no edge in front of it: the harness plays the edge and says who the client is.
const CLIENT_IP = { 'cf-connecting-ip': '203.0.113.7' }

// The aggregation's body parsing before exact numbers and the depth bound (issue 21).
const OLD_PARSE = {
  'src/aggregate/body.ts': [['parsed = parseJson(text, bytes, MAX_BODY_DEPTH)', 'parsed = { value: JSON.parse(text) }']],
}

/**
 * An aggregate of three calls to the origin's catalog bodies under `prefix` (`${prefix}a`, `b`,
 * `c`) against the same config bundled with the old parse path (`OLD_PARSE`).
 */
const catalogParse = (name, body, prefix, targets) => ({
  name,
  title: `Aggregate of 3 calls, ${body} vs the old parse path`,
  requires: ['action:aggregate'],
  config: (ctx) => ({
    upstreams: origin(ctx),
    routes: [{ id: 'catalog', match: { path: '/*' }, action: { type: 'aggregate', calls: ['a', 'b', 'c'].map((call) => ({ name: call, upstream: 'origin', path: `${prefix}${call}`, group: call })) } }],
  }),
  request: () => ({ method: 'GET', path: '/catalog' }),
  against: { name: 'old-parse', patches: OLD_PARSE },
  targets,
})

// Hedging switched off in the source, the config unchanged: the baseline of `hedge-tail`.
const NO_HEDGING = {
  'src/upstream/client.ts': [['const hedge = options.hedge !== undefined && mayHedge(request, replayable) ? options.hedge : undefined', 'const hedge = undefined']],
}

// Issue 16: the jwt policy as it was before remembered signatures (every token verified each time).
const NO_SIGNATURE_MEMORY = {
  'src/auth/issuer.ts': [['const scope = remote && issuer.secret !== undefined ? undefined : signatureScope(remote, algorithms)', 'const scope = undefined as string | undefined']],
}
const DISTINCT_TOKENS = 10_000
const jwtPolicy = (ctx) => ({ type: 'jwt', issuers: [{ issuer: ctx.jwks.issuer, jwksUrl: ctx.jwks.url, audience: ctx.jwks.audience }] })
// A one-second sliding window at the largest count a window allows: never reached at these rates.
const rateLimitPolicy = () => ({ type: 'rate-limit', by: ['consumer'], fallback: ['ip'], limits: [{ name: 'bench', limit: HUGE_LIMIT, window: 1 }] })
// Per consumer, so requests with a token are cached too (a shared scope would bypass them).
const cachePolicy = (scope = undefined) => ({ type: 'cache', defaultTtl: 300, ...(scope && { scope }) })
/** The plain origin behind one route with the default cache policy. */
const cachedProxy = (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([cachePolicy()])] })
const RATE_LIMITER = { className: 'RateLimiter', binding: 'RATE_LIMITER' }

/**
 * Bench-only stand-in for a RateLimiter object far away: every call to one (consume, lease,
 * refund) waits `delayMs` first, and is counted; `GET /__bench/rate-limiter` answers the counts
 * (object calls, admitted requests). src/ is untouched: the edits are applied while bundling.
 */
const objectCalls = (delayMs) => ({
  'src/rate-limit/reserve.ts': [[
    '  return ns.get(id)\n}',
    `  const stub = ns.get(id)
  const counts = (globalThis.__rateLimiter ??= { calls: 0, admitted: 0 })
  const delayed = (target, method) => (...args) => {
    counts.calls++
    return ${delayMs > 0 ? `new Promise((r) => setTimeout(r, ${delayMs})).then(() => target[method](...args))` : 'target[method](...args)'}
  }
  return new Proxy(stub, { get: (target, method) => (['consume', 'lease', 'refund'].includes(method) ? delayed(target, method) : Reflect.get(target, method)) })
}`,
  ]],
  'src/worker.ts': [[
    'return host.fetch(request, env, ctx)',
    `if (request.url.endsWith('/__bench/rate-limiter')) return Response.json(globalThis.__rateLimiter ?? { calls: 0, admitted: 0 })
      return host.fetch(request, env, ctx).then((res) => {
        if (res.status === 200) (globalThis.__rateLimiter ??= { calls: 0, admitted: 0 }).admitted++
        return res
      })`,
  ]],
})
const OBJECT_DELAY_MS = 50

/**
 * basic-auth's block check with both failure counters (the address's and the user name's) as far
 * away as the rate limiter's above: every `inspect` waits `OBJECT_DELAY_MS` first.
 */
const FAR_CREDENTIAL_CHECKS = {
  'src/rate-limit/credential-failures.ts': [[
    'withTimeout(ns.get(ns.idFromName(key)).inspect(), TIMEOUT_MS, runtime)',
    `withTimeout(new Promise((r) => setTimeout(r, ${OBJECT_DELAY_MS})).then(() => ns.get(ns.idFromName(key)).inspect()), TIMEOUT_MS, runtime)`,
  ]],
}
const BENCH_PASSWORD = 'bench-password'
/** As `npm run hash:password` writes it, at the most iterations validation allows (a fixed salt: the same config each time). */
const benchPasswordHash = () => {
  const salt = Buffer.alloc(16, 7)
  return `pbkdf2-sha256$100000$${salt.toString('base64')}$${pbkdf2Sync(BENCH_PASSWORD, salt, 100_000, 32, 'sha256').toString('base64')}`
}
const BASIC_BENCH = { authorization: `Basic ${Buffer.from(`bench:${BENCH_PASSWORD}`).toString('base64')}` }

/** Object calls over `seconds` of load at 32 connections: per second, and per 1,000 admitted. */
async function objectCallRate({ url, request, log, smoke }, wanted = 5) {
  const seconds = smoke ? 1 : wanted
  const read = async () => (await fetch(`${url}/__bench/rate-limiter`)).json()
  const before = await read()
  const started = performance.now()
  const run = await measure(url, request, { connections: 32, seconds })
  const elapsed = (performance.now() - started) / 1000
  const after = await read()
  const calls = after.calls - before.calls
  const admitted = after.admitted - before.admitted
  const result = {
    rps: run.rps,
    callsPerSecond: calls / elapsed,
    callsPer1000: (calls * 1000) / admitted,
    wholeRunCallsPer1000: (after.calls * 1000) / after.admitted,
  }
  result.summary = `${Math.round(run.rps)} req/s on one key: ${result.callsPerSecond.toFixed(1)} object calls/s, ${result.callsPer1000.toFixed(2)} per 1,000 admitted (whole run: ${result.wholeRunCallsPer1000.toFixed(2)})`
  log(`  ${result.summary}`)
  return result
}

/**
 * Excess demand on one key with a limit it reaches: 32 clients in a loop for `seconds`, each 200's
 * time kept. After the first window (the start's burst), every window of `window` s should hold
 * `limit` admissions: the fewest in any such window is the worst under-admission, the mean over
 * them the usual one. The most in any window, as the client sees it (answers arrive a variable
 * while after admission, so this can read a little high on either mode), checks the bound.
 */
const NEAR_LIMIT = { limit: 50, window: 1, seconds: 10 }
async function underAdmission({ url, request, log, smoke }) {
  const seconds = smoke ? 3 : NEAR_LIMIT.seconds
  const W = NEAR_LIMIT.window * 1000
  const times = []
  let denied = 0
  const started = performance.now()
  const end = started + seconds * 1000
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (performance.now() < end) {
      const res = await fetch(url + request.path, { headers: request.headers })
      await res.arrayBuffer()
      if (res.status === 200) times.push(performance.now())
      else if (res.status === 429) denied++
      else throw new Error(`near-limit run: status ${res.status}`)
    }
  }))
  times.sort((a, b) => a - b)
  const count = (from, to) => times.filter((t) => t >= from && t < to).length
  let fewest = Infinity
  let most = 0
  for (let from = started; from + W <= end; from += 10) {
    const n = count(from, from + W)
    most = Math.max(most, n)
    if (from >= started + W) fewest = Math.min(fewest, n)
  }
  const steady = count(started + W, end) / (NEAR_LIMIT.limit * ((end - started - W) / W))
  const result = { admitted: times.length, denied, fewest, most, meanUnder: 1 - steady, worstUnder: 1 - fewest / NEAR_LIMIT.limit }
  result.summary = `limit ${NEAR_LIMIT.limit}/${NEAR_LIMIT.window} s, ${seconds} s, 32 clients: ${times.length} admitted, ${denied} denied; after the first window, under-admission ${(result.meanUnder * 100).toFixed(1)}% on average, ${(result.worstUnder * 100).toFixed(0)}% in the worst window (${fewest}); most in any window as the client sees it: ${most}`
  log(`  ${result.summary}`)
  return result
}
const limitedPolicy = (mode, limit = HUGE_LIMIT, window = 1) => ({ type: 'rate-limit', mode, by: ['ip'], limits: [{ name: 'bench', limit, window }] })

const JWT = {
  name: 'jwt',
  title: 'JWT (ES256) with a cached JWKS',
  requires: ['policy:jwt'],
  config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([jwtPolicy(ctx)])] }),
  request: (ctx) => ({ method: 'GET', path: '/api/items/1', headers: bearer(ctx) }),
  peer: { jwt: true },
  targets: { vsPeer: 1.0 },
  // The lean worker plus the same JWT work by hand: the floor for the target against fast-gateway.
  handWritten: {
    file: 'pipeline.js',
    bindings: (ctx) => ({ TARGET_URL: ctx.origins.main, JWKS_URL: ctx.jwks.url, ISSUER: ctx.jwks.issuer, AUDIENCE: ctx.jwks.audience, STEPS: 'jwt' }),
  },
}
const API_KEY = {
  name: 'api-key',
  title: 'API key (header, hashed)',
  requires: ['policy:api-key'],
  config: (ctx) => ({
    upstreams: origin(ctx),
    consumers: { bench: { apiKeySecrets: ['BENCH_API_KEY_SHA256'] } },
    routes: [proxyRoute([{ type: 'api-key', header: 'X-API-Key' }])],
  }),
  secrets: (ctx) => ({ BENCH_API_KEY_SHA256: ctx.apiKeyHash }),
  request: (ctx) => ({ method: 'GET', path: '/api/items/1', headers: { 'x-api-key': ctx.apiKey } }),
}
// The cache step alone by hand (bench/hand-written/pipeline.js): lookup, and on a miss the store
// of a small body before the answer, under a key that is the URL's.
const CACHE_BY_HAND = { file: 'pipeline.js', bindings: (ctx) => ({ TARGET_URL: ctx.origins.main, STEPS: 'cache' }) }
const CACHE_HIT = {
  name: 'cache-hit',
  title: 'Cache hit (local stand-in cache service)',
  requires: ['policy:cache'],
  config: cachedProxy,
  request: () => ({ method: 'GET', path: '/cacheable/items/1' }),
  prime: 2,
  expect: { status: 200, header: ['cache-status', /hit/i] },
  handWritten: CACHE_BY_HAND,
}

/** A scenario's `extra`: KV reads per request, counted at its KV stand-in over short runs at 1 and 32 connections. */
const kvReadsPerRequest = (what) => async ({ url, request, log, smoke, gateway }) => {
  const stats = gateway.kv[0].stats
  // KV round trips counted at the stand-in, at 1 connection and at 32 (where requests in flight
  // when the isolate's copies expire could each read for themselves).
  const counted = async (connections) => {
    const before = stats.reads
    const run = await measure(url, request, { connections, ...(smoke ? { amount: 20 * connections } : { seconds: 2 }) })
    const reads = stats.reads - before
    return { run, reads, perRequest: reads / Math.max(1, run.count) }
  }
  const one = await counted(1)
  const many = await counted(32)
  const summary = `${what}: at 1 connection ${one.reads.toLocaleString('en')} KV reads in ${one.run.count.toLocaleString('en')} requests (${one.perRequest.toFixed(3)} a request), p50 ${one.run.p50.toFixed(2)} ms; at 32, ${many.reads.toLocaleString('en')} in ${many.run.count.toLocaleString('en')} (${many.perRequest.toFixed(3)})`
  log(`  ${summary}`)
  return { summary, perRequest: one.perRequest, perRequest32: many.perRequest }
}

// Hardening: what unsafe requests cost in KV. A 2xx to a POST on a cached route invalidates its
// path, and carrying that to other locations is a KV write of the path's generation (then its
// bucket's); distinct paths are not coalesced, so it was a write a request (1.006 in 33,642 POSTs;
// the buckets' writes are coalesced, one a second each). Each policy now has
// a budget per isolate, `invalidationWritesPerMinute` (default 60, a token bucket holding a
// minute's worth). KV writes counted at the stand-in during POSTs to new paths at 32 connections.
async function kvWritesOfInvalidation({ url, request, log, smoke, gateway }) {
  const stats = gateway.kv[0].stats
  const seconds = smoke ? 1 : 10
  const before = stats.writes
  const run = await measure(url, request, { connections: 32, ...(smoke ? { amount: 200 } : { seconds }) })
  // The bumps run after the answers (waitUntil): let the last ones land before counting.
  await new Promise((resolve) => setTimeout(resolve, 200))
  const writes = stats.writes - before
  // A minute's worth at once, one more a second after, for paths; a bucket's write follows its path's.
  const elapsedS = Math.ceil(run.count / Math.max(1, run.rps))
  const bound = 2 * (60 + elapsedS)
  const met = writes <= bound
  const summary = `${run.count.toLocaleString('en')} POSTs to new cached paths in ${elapsedS} s (${Math.round(run.rps).toLocaleString('en')} req/s): ${writes.toLocaleString('en')} KV writes (${(writes / Math.max(1, run.count)).toFixed(3)} a request; 1.006 before the budget); bound for one isolate at the default 60 a minute, paths and buckets: ${bound} (${met ? 'met' : 'missed'})`
  log(`  ${summary}`)
  return { summary, writes, perRequest: writes / Math.max(1, run.count), met }
}

// Hits over 2,500 paths in turn, each asked again after the 1 s its entry and purge generations
// are kept in the isolate: every hit a Cache API hit (with KV, `cache-hit-kv`: the route's
// generations and the 16 path buckets, re-read once a second; a path's own only after a purge in its bucket).
const CACHE_HIT_CYCLE = {
  name: 'cache-hit-cycle',
  title: 'Cache hits over 2,500 paths in turn, each asked again after its 1 s in the isolate (Cache API hits)',
  requires: ['policy:cache'],
  config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([{ ...cachePolicy(), purge: { cacheSeconds: 1 } }])] }),
  request: () => ({ method: 'GET', path: (i) => `/cacheable/cycle/${i % 2500}` }),
}

// Hardening: what the cache keeps per isolate must not grow with the length of the URLs clients
// send. Its memos (key text -> hash, path -> purge key, keys written, refresh claims) were bounded
// by how many keys they held, not how long: 9,000 misses with 16 KB URLs (Cloudflare's URL limit)
// left 154 MiB of live JS heap, past the 128 MB a Worker isolate may use. Measured through the V8
// inspector, after a forced collection, before and after the misses.
const LONG_URL_CHARS = 16_000
const LONG_URL_HEAP_MIB = 32
const LONG_URL_PAD = 'q'.repeat(LONG_URL_CHARS)
async function heapAfterLongUrls({ url, request, log, smoke, gateway }) {
  const count = smoke ? 300 : 9_000
  const before = await heapAfterGc(gateway)
  const run = await measure(url, request, { connections: 8, amount: count })
  const failed = count - run.count
  const after = await heapAfterGc(gateway)
  const met = after.used <= LONG_URL_HEAP_MIB && failed === 0
  const summary = `${count.toLocaleString('en')} cache misses with ${LONG_URL_CHARS.toLocaleString('en')}-character URLs (${failed} not 200): live JS heap after a full GC ${before.used} MiB before, ${after.used} MiB after (target <= ${LONG_URL_HEAP_MIB} MiB: ${met ? 'met' : 'missed'})`
  log(`  ${summary}`)
  return { summary, heapBeforeMiB: before.used, heapAfterMiB: after.used, met }
}

export const SCENARIOS = [
  {
    name: 'pass-through',
    title: 'Pass-through proxy (default config: request id, log line on)',
    requires: [],
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute()] }),
    request: () => ({ method: 'GET', path: '/api/items/1' }),
    peer: {},
    targets: { vsPeer: 1.0 },
    // Issue 16: the framework's own cost, against the hand-written worker doing the same promised work.
    leanTargets: { cpuRatio32: 1.15, rpsRatio32: 0.9, p50DeltaMs1: 0.05 },
    // The lean worker plus the promises it leaves out (timeouts, a small body read whole so a stall
    // is a 504, 502s as problems, 499 on a client gone): the floor of the pass-through targets.
    handWritten: { file: 'pass-through.js', bindings: (ctx) => ({ TARGET_URL: ctx.origins.main }) },
  },
  {
    name: 'pass-through-metrics',
    title: 'Pass-through with metrics on (aggregator Durable Object, batched in waitUntil)',
    requires: [],
    durableObjects: [{ className: 'MetricsAggregator', binding: 'METRICS_AGGREGATOR' }],
    config: (ctx) => ({ gateway: { metrics: { aggregator: {} } }, upstreams: origin(ctx), routes: [proxyRoute()] }),
    request: () => ({ method: 'GET', path: '/api/items/1' }),
  },
  {
    name: 'pass-through-telemetry',
    title: 'Pass-through with OTLP spans on, every request sampled (batched exports to a local endpoint in waitUntil), vs pass-through',
    requires: [],
    config: (ctx) => ({ gateway: { telemetry: { otlp: { endpoint: `${ctx.origins.main}/v1/traces` } } }, upstreams: origin(ctx), routes: [proxyRoute()] }),
    request: () => ({ method: 'GET', path: '/api/items/1' }),
    versus: 'pass-through',
  },
  JWT,
  // Issue 16: the same repeated token vs the code before remembered signatures (each request verified).
  { ...JWT, name: 'jwt-vs-before', title: 'JWT (ES256), one token repeated, vs the code before remembered signatures', peer: undefined, targets: undefined, against: { name: 'before', patches: NO_SIGNATURE_MEMORY } },
  API_KEY,
  // Issue 16: 10,000 distinct tokens in turn, more than the 4,096 signatures an isolate remembers,
  // so every request misses: what remembering costs a token seen once, vs the code before it.
  {
    name: 'jwt-distinct',
    title: `JWT (ES256), ${DISTINCT_TOKENS.toLocaleString('en')} distinct tokens in turn, vs the code before remembered signatures`,
    requires: ['policy:jwt'],
    config: JWT.config,
    request: (ctx) => {
      const tokens = ctx.distinctTokens(DISTINCT_TOKENS)
      return { method: 'GET', path: '/api/items/1', headers: (i) => ({ authorization: `Bearer ${tokens[Number.isInteger(i) ? i % DISTINCT_TOKENS : 0]}` }) }
    },
    against: { name: 'before', patches: NO_SIGNATURE_MEMORY },
    targets: { rpsRatio32: 1.0 },
  },
  // What running a route's compiled pipeline costs over the pass-through: one policy that changes nothing.
  {
    name: 'policy-path',
    title: 'A route with one policy that changes nothing (headers, no edits) vs pass-through: the compiled pipeline itself',
    requires: [],
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([{ type: 'headers' }])] }),
    request: () => ({ method: 'GET', path: '/api/items/1' }),
    versus: 'pass-through',
  },
  { ...API_KEY, name: 'api-key-vs-pass-through', title: 'API key (header, hashed, from a Worker secret) vs pass-through', versus: 'pass-through', targets: { rpsRatio32: 0.9 } },
  {
    name: 'rate-limit',
    title: 'Rate limit through the Durable Object (limit never reached)',
    requires: ['policy:rate-limit'],
    durableObjects: [RATE_LIMITER],
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([rateLimitPolicy()])] }),
    request: () => ({ method: 'GET', path: '/api/items/1', headers: CLIENT_IP }),
    peer: { rateLimit: true },
    targets: { vsPeer: 1.0 },
  },
  // Leases (issue 15): every object call delayed 50 ms, as an object far away; vs pass-through.
  ...['lease', 'exact'].map((mode) => ({
    name: `rate-limit-far-${mode}`,
    title: `Rate limit, mode "${mode}", every object call delayed ${OBJECT_DELAY_MS} ms, vs pass-through`,
    requires: ['policy:rate-limit'],
    durableObjects: [RATE_LIMITER],
    patches: objectCalls(OBJECT_DELAY_MS),
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([limitedPolicy(mode)])] }),
    request: () => ({ method: 'GET', path: '/api/items/1', headers: CLIENT_IP }),
    versus: 'pass-through',
    extra: objectCallRate,
    targets: mode === 'lease' ? { rpsRatio32: 0.85, p50DeltaMs1: 1 } : undefined,
  })),
  ...['lease', 'exact'].map((mode) => ({
    name: `rate-limit-far-near-limit-${mode}`,
    title: `Rate limit, mode "${mode}", objects ${OBJECT_DELAY_MS} ms away, excess demand on ${NEAR_LIMIT.limit} per ${NEAR_LIMIT.window} s`,
    requires: ['policy:rate-limit'],
    durableObjects: [RATE_LIMITER],
    patches: objectCalls(OBJECT_DELAY_MS),
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([limitedPolicy(mode, NEAR_LIMIT.limit, NEAR_LIMIT.window)])] }),
    request: () => ({ method: 'GET', path: '/api/items/1', headers: CLIENT_IP }),
    measureOnly: true,
    extra: underAdmission,
  })),
  // A right password checks the failure counters (issue 16's "every limited request waits on a
  // Durable Object", for basic-auth): remembered 5 s per address and user name, against the same
  // code asking both objects on every request (as before), both 50 ms away.
  {
    name: 'basic-auth-far',
    title: `Basic auth, right password, failure counters ${OBJECT_DELAY_MS} ms away: checks remembered 5 s vs asked every request`,
    requires: ['policy:basic-auth'],
    durableObjects: [RATE_LIMITER],
    patches: FAR_CREDENTIAL_CHECKS,
    config: (ctx) => ({
      consumers: { bench: {} },
      upstreams: origin(ctx),
      routes: [proxyRoute([{ type: 'basic-auth', credentials: [{ username: 'bench', passwordHash: benchPasswordHash(), consumer: 'bench' }] }])],
    }),
    request: () => ({ method: 'GET', path: '/api/items/1', headers: { ...CLIENT_IP, ...BASIC_BENCH } }),
    against: { name: 'asked-every-request', patches: { ...FAR_CREDENTIAL_CHECKS, 'src/auth/basic-auth.ts': [['  rememberClearMs: 5_000,\n', '']] } },
  },
  {
    name: 'rate-limit-hot-key',
    title: 'Rate limit, leases, one key far beyond 1,000 req/s with a large limit: the object\'s call rate',
    requires: ['policy:rate-limit'],
    durableObjects: [RATE_LIMITER],
    patches: objectCalls(0),
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([limitedPolicy('lease', HUGE_LIMIT, 60)])] }),
    request: () => ({ method: 'GET', path: '/api/items/1', headers: CLIENT_IP }),
    measureOnly: true,
    extra: (args) => objectCallRate(args, 10),
  },
  CACHE_HIT,
  // Issue 16: the gateway's own CPU per request on a hit vs a pass-through (the stand-in cache
  // service's req/s says nothing about the gateway).
  { ...CACHE_HIT, name: 'cache-hit-cpu', title: 'Cache hit vs pass-through: gateway CPU per request', versus: 'pass-through', targets: { cpuRatio32: 0.8 } },
  {
    name: 'cache-miss',
    title: 'Cache miss (a new URL each request; lookup, origin, store)',
    requires: ['policy:cache'],
    config: cachedProxy,
    request: () => ({ method: 'GET', path: (i) => `/cacheable/miss/${i}` }),
    handWritten: CACHE_BY_HAND,
  },
  // Production is not this machine: each cache lookup first reads the route's purge generations
  // from KV (cached per isolate for `purge.cacheSeconds`, with the path buckets), and a found entry
  // its path's when its bucket was purged since. Here KV is a stand-in 10 ms away, the path new
  // each request: what KV costs a miss (it once read the path's generation before every lookup:
  // 1.00 read a request, p50 12 ms instead of 1 at 1 connection).
  {
    name: 'cache-miss-kv',
    title: 'Cache miss with purge generations in KV 10 ms away (a new path each request) vs without KV',
    requires: ['policy:cache'],
    config: cachedProxy,
    request: () => ({ method: 'GET', path: (i) => `/cacheable/kv/${i}` }),
    kvNamespaces: [{ binding: 'CACHE_KV', delayMs: 10 }],
    versus: 'cache-miss',
    metric: 'latency',
    extra: kvReadsPerRequest('on new paths'),
  },
  // The other half of the same cost: a hit on a path this isolate has not read in the last
  // `purge.cacheSeconds` waited for one KV read of the path's generation, after its lookup (1.01 a
  // request, p50 11.9 vs 0.50 ms), until the path buckets; the cycling hits with KV against the same without.
  CACHE_HIT_CYCLE,
  {
    ...CACHE_HIT_CYCLE,
    name: 'cache-hit-kv',
    title: 'The same hits with purge generations in KV 10 ms away vs without KV',
    kvNamespaces: [{ binding: 'CACHE_KV', delayMs: 10 }],
    versus: 'cache-hit-cycle',
    metric: 'latency',
    extra: kvReadsPerRequest('over 2,500 paths'),
  },
  {
    name: 'cache-invalidation-kv',
    title: 'Unsafe requests on a cached route, each to a new path: KV writes carrying their invalidation',
    requires: ['policy:cache'],
    config: cachedProxy,
    request: () => ({ method: 'POST', path: (i) => `/cacheable/changed/${i}` }),
    kvNamespaces: [{ binding: 'CACHE_KV', delayMs: 0 }],
    measureOnly: true,
    extra: kvWritesOfInvalidation,
  },
  {
    name: 'cache-long-urls',
    title: `Cache misses with ${LONG_URL_CHARS.toLocaleString('en')}-character URLs: the isolate's live heap`,
    requires: ['policy:cache'],
    config: cachedProxy,
    request: () => ({ method: 'GET', path: (i) => `/cacheable/long/${i}?p=${LONG_URL_PAD}` }),
    inspector: true,
    measureOnly: true,
    extra: heapAfterLongUrls,
  },
  {
    name: 'fan-out',
    title: 'Fan-out to 3 origins (20/40/60 ms) vs the slowest alone',
    requires: ['action:aggregate'],
    config: (ctx) => ({
      upstreams: {
        slow20: { url: ctx.origins.slow20 },
        slow40: { url: ctx.origins.slow40 },
        slow60: { url: ctx.origins.slow60 },
      },
      routes: [{
        id: 'fan-out',
        match: { path: '/*' },
        action: {
          type: 'aggregate',
          calls: [
            { name: 'a', upstream: 'slow20', path: '/a' },
            { name: 'b', upstream: 'slow40', path: '/b' },
            { name: 'c', upstream: 'slow60', path: '/c' },
          ],
        },
      }],
    }),
    request: () => ({ method: 'GET', path: '/dashboard' }),
    baseline: 'slow60',
    metric: 'latency',
    targets: { latencyRatio: 1.05 },
  },
  // Issue 21: exact numbers cost at most +10% CPU on bodies without them. The old parse path
  // (plain JSON.parse, no scan for depth and long numbers) is the same config bundled with OLD_PARSE.
  catalogParse('aggregate-parse', '16 KB API-like JSON each (no 16-digit numbers)', '/catalog/', { cpuRatio32: 1.1 }),
  // Every id a string of 19 digits: digits inside strings must not make a body parse twice (they
  // did until the scan skipped strings: 2.3x the CPU).
  catalogParse('aggregate-parse-string-ids', 'the same JSON with 19-digit ids sent as strings,', '/catalog/ids-', { cpuRatio32: 1.1 }),
  // Long floats a double holds exactly (its shortest text) are read back in the scan, not parsed
  // again (they were: 2.4x the CPU). No target: reading 600 numbers back is work the plain parse skips.
  catalogParse('aggregate-parse-long-floats', 'the same JSON with two 17-19 character floats per item,', '/catalog/floats-', undefined),
  {
    // Issue 20: hedged requests against a slow tail. Round robin over `main` and `tail10`, whose
    // every 10th answer takes 200 ms; hedged after 20 ms to the other target. The baseline is the
    // same config built with hedging switched off in the source (NO_HEDGING): p99 with and without.
    name: 'hedge-tail',
    title: 'Pool of 2, one target slow on every 10th answer (200 ms): hedge after 20 ms vs no hedging',
    requires: [],
    config: (ctx) => ({
      upstreams: { pool: { targets: [{ url: ctx.origins.main }, { url: ctx.origins.tail10 }] } },
      routes: [{ id: 'api', match: { path: '/*' }, action: { type: 'proxy', upstream: 'pool', hedge: { after: 20, max: 1 } } }],
    }),
    request: () => ({ method: 'GET', path: '/api/items/1' }),
    against: { name: 'no-hedging', patches: NO_HEDGING },
    metric: 'latency',
  },
  {
    name: 'full-pipeline',
    title: 'Full pipeline: JWT + rate limit + cache miss + proxy',
    requires: ['policy:jwt', 'policy:rate-limit', 'policy:cache'],
    durableObjects: [RATE_LIMITER],
    config: (ctx) => ({ upstreams: origin(ctx), routes: [proxyRoute([jwtPolicy(ctx), rateLimitPolicy(), cachePolicy('consumer')])] }),
    request: (ctx) => ({ method: 'GET', path: (i) => `/cacheable/full/${i}`, headers: { ...bearer(ctx), ...CLIENT_IP } }),
    peer: { jwt: true, rateLimit: true },
    targets: { vsPeer: 1.0 },
    leanTargets: { rpsRatio32: 0.6 },
    // The same work by hand (bench/hand-written/pipeline.js): what it costs on this platform.
    handWritten: {
      file: 'pipeline.js',
      bindings: (ctx) => ({ TARGET_URL: ctx.origins.main, JWKS_URL: ctx.jwks.url, ISSUER: ctx.jwks.issuer, AUDIENCE: ctx.jwks.audience }),
    },
  },
]

/**
 * `npm run bench -- --profile`: the pass-through with stages removed one at a time, each against the
 * bare worker, to see what each stage costs (docs/benchmarks.md has the reading); then the full
 * pipeline's policies added one at a time, each beside its hand-written twin doing the same steps.
 * Config stages are removed by config; code stages by `patches` applied to the source while
 * bundling (src/ is untouched; a patch that no longer applies fails loudly).
 */
const passThrough = SCENARIOS[0]
const LOG_OFF = { gateway: { log: { requests: false } } }
const BARE_PIPELINE = { ...LOG_OFF, policies: [] }
// The body stage: small declared-length bodies are read whole under the request's one timer
// (src/upstream/pass-through.ts, the compiled pass-through); STREAMED puts every body through the
// JS idle-timeout stream instead, NATIVE_BODY hands the origin's body through untouched (no stall
// bound at all).
const PASS_THROUGH = 'src/upstream/pass-through.ts'
const STREAMED = {
  [PASS_THROUGH]: [["Number(res.headers.get('content-length') ?? NaN) <= READ_WHOLE_UP_TO", 'false']],
}
const NATIVE_BODY = {
  [PASS_THROUGH]: [
    ['const bytes = await this.readWhole(res)', 'const bytes = (this.disarm(), null)'],
    ['out = new Response(bytes, init)', 'out = new Response(res.body, init)'],
  ],
}
// The header timer and the abort wiring: no timer, no AbortController signal on the upstream
// request, no client-gone listener (so no 499 line). Unsafe; this only prices them.
const NO_TIMER_EDITS = [
  ['this.timer = runtime.setTimeout(() => this.expire(), upstream.timeouts.headers)', ''],
  ['signal: this.controller.signal,', ''],
]
const NO_LISTENER = {
  'src/gateway/route-server.ts': [
    ["signal.addEventListener('abort', onClientGone)", ''],
    ["signal.removeEventListener('abort', onClientGone)", ''],
  ],
}
const NO_TIMER = { [PASS_THROUGH]: [...NATIVE_BODY[PASS_THROUGH], ...NO_TIMER_EDITS], ...NO_LISTENER }
// The header work: the upstream draft's hop-by-hop and forwarding edits and the response's
// hop-by-hop stripping (a plain copy is kept: the client's request headers are immutable).
// Removing the edits is unsafe; this only prices them.
const NO_HEADER_COPIES = {
  'src/gateway/route-server.ts': [['const headers = forwardedHeaders(request, url)', 'const headers = new Headers(request.headers)'], ...NO_LISTENER['src/gateway/route-server.ts']],
  [PASS_THROUGH]: [...NO_TIMER[PASS_THROUGH], ['stripHopByHop(out.headers)', '']],
}
// The pass-through's twin with the same stages left out (its `OMIT` binding, bench/hand-written/
// origin-call.js): beside a variant, what the stage costs when written by hand.
const twinOmitting = (omit) => ({ file: 'pass-through.js', bindings: (ctx) => ({ TARGET_URL: ctx.origins.main, ...(omit && { OMIT: omit }) }) })
const variant = (name, title, extra, patches, handWritten = undefined) => ({
  ...passThrough,
  name,
  title,
  peer: undefined,
  targets: undefined,
  handWritten,
  patches,
  config: (ctx) => ({ ...extra, upstreams: origin(ctx), routes: [proxyRoute()] }),
})
// The full pipeline's stages: its route with its policies taken one phase at a time (JWT, then the
// rate limit, then the cache), each beside the hand-written pipeline doing the same steps (its
// `STEPS` binding), so the profile shows where the gateway's excess over the twin comes from.
const fullPipeline = SCENARIOS.find((s) => s.name === 'full-pipeline')
const pipelineStage = (name, title, types, steps) => ({
  ...fullPipeline,
  name,
  title,
  peer: undefined,
  targets: undefined,
  leanTargets: undefined,
  config: (ctx) => {
    const config = fullPipeline.config(ctx)
    return { ...config, routes: config.routes.map((r) => ({ ...r, policies: r.policies.filter((p) => types.includes(p.type)) })) }
  },
  handWritten: { ...fullPipeline.handWritten, bindings: (ctx) => ({ ...fullPipeline.handWritten.bindings(ctx), STEPS: steps }) },
})
export const PROFILE_SCENARIOS = [
  variant('pass-through', 'pass-through (default config)', {}, undefined, twinOmitting('')),
  variant('no-log', '- log line', LOG_OFF),
  variant('no-log-no-request-id', '- log line - request-id policy', BARE_PIPELINE),
  variant('streamed', 'body through the JS idle-timeout stream', {}, STREAMED),
  variant('native-body', '- body read (origin body handed through)', {}, NATIVE_BODY, twinOmitting('body-read')),
  variant('native-body-no-timer', '- body read - header timer - abort wiring', {}, NO_TIMER, twinOmitting('body-read,abort-wiring')),
  variant('core', '- all of the above (routing, ids, trace, header edits left)', BARE_PIPELINE, NO_TIMER),
  variant('core-no-headers', '- all of the above - header edits (routing, ids, trace, one copy left)', BARE_PIPELINE, NO_HEADER_COPIES),
  pipelineStage('pipeline-jwt', 'full pipeline, its JWT policy only', ['jwt'], 'jwt'),
  pipelineStage('pipeline-jwt-rate-limit', 'full pipeline, JWT and rate limit (no cache)', ['jwt', 'rate-limit'], 'jwt rate-limit'),
  pipelineStage('pipeline-full', 'full pipeline (JWT, rate limit, cache miss)', ['jwt', 'rate-limit', 'cache'], 'jwt rate-limit cache'),
]
