// `npm run soak -- --minutes N` (or `--seconds N`): the gateway under raw workerd with a mixed
// config (bench/soak-config.mjs: JWT, rate limit, cache, aggregation, a pool), a steady load at a
// moderate rate, while the pool's second target fails, hangs, resets and goes away on a schedule
// (bench/soak-servers.mjs). Reports requests, statuses, problem codes, the 5xx the gateway itself
// caused (target 0), p50/p99, and workerd's resident memory (target: RSS at the end <= RSS at
// 1 minute + 20 MiB, checked for runs of 10 minutes or more). Exits 1 when a target is missed.
//   --rate R   requests a second (default 40)     --keep   keep bench/work/soak-* afterwards
//   --routes a,b  only these routes of the mix (jwt, limited, cached, aggregate, pool), to find
//              which one a problem comes with
//   --heap     also open workerd's inspector and, every 30 s, collect garbage and read the isolate's
//              live JS heap: tells a leak in the gateway's JS from workerd's own memory (the
//              inspector costs a little; off by default)
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import http from 'node:http'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { firstMessage, startProcess, stopAll } from './lib/procs.mjs'
import { percentile } from './lib/load.mjs'
import { ROOT, bundleGateway, startWorkerd } from './lib/workerd.mjs'
import { freePort, importTs } from '../scripts/lib.mjs'
import { openInspector } from './lib/inspector.mjs'
import { CLIENT_IPS, ROUTES_TOUCHING_FLAKY, UPSTREAM_CODES, phaseAt, soakConfig } from './soak-config.mjs'

const { values: args } = parseArgs({
  options: { minutes: { type: 'string' }, seconds: { type: 'string' }, rate: { type: 'string', default: '40' }, keep: { type: 'boolean', default: false }, heap: { type: 'boolean', default: false }, routes: { type: 'string' } },
})
const SECONDS = args.seconds ? Number(args.seconds) : Number(args.minutes ?? 1) * 60
const RATE = Number(args.rate)
if (!(SECONDS > 0 && SECONDS <= 24 * 3600) || !(RATE > 0 && RATE <= 2000)) {
  console.error('usage: npm run soak -- [--minutes N | --seconds N] [--rate R]  (N up to a day, R up to 2000)')
  process.exit(2)
}
// The flaky target's schedule lasts about 90 s; a shorter soak runs it faster, so it sees every phase.
const CYCLE_SCALE = Math.min(1, SECONDS / 90)
const RSS_TARGET_MIB = 20
const RSS_CHECKED_FROM_S = 600
const REQUEST_TIMEOUT_MS = 10_000
const MAX_IN_FLIGHT = 256
const MAX_SAMPLES = 2_000_000
const WORK = join(ROOT, 'bench/work', `soak-${Date.now()}`)
const log = (line) => console.log(line)

// Whatever happens, the soak ends: a hard limit well past its planned length.
const hardLimit = setTimeout(() => {
  console.error('soak: hard time limit reached; stopping')
  stopAll()
  process.exit(3)
}, (SECONDS + 120) * 1000)
hardLimit.unref()

async function startBackEnd() {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'soak-1', alg: 'ES256', use: 'sig' }
  const servers = startProcess(process.execPath, [join(ROOT, 'bench/soak-servers.mjs'), JSON.stringify({ jwks: { keys: [jwk] }, cycleScale: CYCLE_SCALE })], { ipc: true, logFile: join(WORK, 'servers.log') })
  const { ports, startedAt } = await firstMessage(servers)
  const u = (p) => `http://127.0.0.1:${p}`
  const jwks = { url: `${u(ports.jwks)}/.well-known/jwks.json`, issuer: 'https://issuer.soak.local', audience: 'edgeway-soak' }
  const token = await new SignJWT({ scope: 'read' })
    .setProtectedHeader({ alg: 'ES256', kid: 'soak-1' })
    .setIssuer(jwks.issuer).setAudience(jwks.audience).setSubject('soak-user')
    .setIssuedAt().setExpirationTime(`${SECONDS + 3600}s`).sign(privateKey)
  return { servers, ctx: { startedAt, ports, origins: { main: u(ports.main), steady: u(ports.steady), flaky: u(ports.flaky) }, jwks, token } }
}

const ROUTES = ['jwt', 'limited', 'cached', 'aggregate', 'pool']
const MIX = args.routes ? args.routes.split(',').map((r) => ROUTES.indexOf(r.trim())) : ROUTES.map((_, n) => n)
if (MIX.length === 0 || MIX.some((n) => n < 0)) {
  console.error(`--routes takes some of: ${ROUTES.join(', ')}`)
  process.exit(2)
}

/** The request mix, in turn: one request a route, a bad token now and then, two IPs over the limit. */
function requestFor(i, ctx) {
  const turn = MIX[i % MIX.length]
  const headers = { 'cf-connecting-ip': CLIENT_IPS[i % CLIENT_IPS.length] }
  if (turn === 0) {
    const bad = i % 50 === 0
    return { route: 'jwt', path: `/jwt/items/${i % 100}`, headers: { ...headers, authorization: `Bearer ${bad ? 'not.a.token' : ctx.token}` } }
  }
  if (turn === 1) return { route: 'limited', path: `/limited/items/${i % 100}`, headers: { 'cf-connecting-ip': CLIENT_IPS[i % 2] } }
  if (turn === 2) return { route: 'cached', path: `/cacheable/items/${i % 20}`, headers }
  if (turn === 3) return { route: 'aggregate', path: `/aggregate/${i % 100}`, headers }
  return { route: 'pool', path: `/pool/items/${i % 100}`, headers }
}

const stats = {
  sent: 0, answered: 0, skipped: 0, keepAliveRetries: 0, cacheHits: 0, noAnswer: {}, byStatus: {}, byRoute: {}, upstream5xx: {}, upstream5xxByPhase: {}, origin5xx: 0, gateway5xx: [], samples: [],
}
const bump = (map, key) => { map[key] = (map[key] ?? 0) + 1 }

/** Classifies an answer: the gateway's own 5xx are what the soak is for. */
function record(req, status, headers, body, ms) {
  stats.answered++
  bump(stats.byStatus, status)
  const route = (stats.byRoute[req.route] ??= {})
  bump(route, status)
  if (stats.samples.length < MAX_SAMPLES) stats.samples.push(ms)
  if (/\bhit\b/i.test(headers['cache-status'] ?? '')) stats.cacheHits++
  if (status < 500) return
  let code
  if (String(headers['content-type']).startsWith('application/problem+json')) {
    try { code = JSON.parse(body).code } catch {}
  }
  if (headers['x-soak-origin']) return void stats.origin5xx++
  if (code && UPSTREAM_CODES.has(code) && ROUTES_TOUCHING_FLAKY.has(req.route)) {
    bump(stats.upstream5xx, code)
    return void bump(stats.upstream5xxByPhase, req.phase)
  }
  if (stats.gateway5xx.length < 1000) stats.gateway5xx.push({ route: req.route, status, code: code ?? null, body: body.slice(0, 300) })
  else stats.gateway5xx.overflow = (stats.gateway5xx.overflow ?? 0) + 1
}

function send(agent, port, req, retried = false) {
  const started = process.hrtime.bigint()
  return new Promise((resolve) => {
    const r = http.get({ host: '127.0.0.1', port, path: req.path, headers: req.headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        record(req, res.statusCode, res.headers, Buffer.concat(chunks).toString('utf8'), Number(process.hrtime.bigint() - started) / 1e6)
        resolve()
      })
      res.on('error', () => { bump(stats.noAnswer, `${req.route}: body-error`); resolve() })
    })
    r.on('timeout', () => r.destroy(new Error('timeout')))
    // A reset of a reused keep-alive socket before any answer is the server closing an idle
    // connection as the request went out: HTTP clients retry such an idempotent request once on a
    // new connection (RFC 9112 section 9.3.1), and so does the soak, counting it. A reset of the
    // retry, or of a fresh connection, is a failure.
    r.on('error', (err) => {
      if (r.reusedSocket && !retried && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
        stats.keepAliveRetries++
        return resolve(send(false, port, req, true)) // a connection of its own
      }
      const why = err.message === 'timeout' ? 'timeout' : err.code ?? 'error'
      bump(stats.noAnswer, `${req.route}: ${why}${r.reusedSocket ? ' (reused keep-alive socket)' : ''}`)
      resolve()
    })
  })
}

/** VmRSS of a process in KiB, from /proc. */
function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

/** The isolate's JS heap after a forced collection: { used, total } in MiB (NaN when unread). Bounded in time. */
async function heapAfterGc(inspector) {
  const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10
  try {
    const read = async () => {
      await inspector.send('HeapProfiler.collectGarbage')
      const { usedSize, totalSize } = await inspector.send('Runtime.getHeapUsage')
      return { used: mib(usedSize), total: mib(totalSize) }
    }
    return await Promise.race([read(), new Promise((r) => setTimeout(() => r({ used: NaN, total: NaN }), 5000))])
  } catch {
    return { used: NaN, total: NaN }
  }
}

async function drive(gateway, ctx, inspector) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const rss = []
  const heap = []
  const start = Date.now()
  const end = start + SECONDS * 1000
  const inFlight = new Set()
  let i = 0
  let nextReport = start + 30_000
  let nextRss = start
  while (Date.now() < end) {
    const now = Date.now()
    const due = Math.floor(((now - start) / 1000) * RATE)
    for (; i < due; i++) {
      if (inFlight.size >= MAX_IN_FLIGHT) { stats.skipped++; continue }
      stats.sent++
      const p = send(agent, gateway.port, { ...requestFor(i, ctx), phase: phaseAt(now - ctx.startedAt, CYCLE_SCALE) })
      inFlight.add(p)
      p.finally(() => inFlight.delete(p))
    }
    if (now >= nextRss) {
      rss.push({ atS: Math.round((now - start) / 1000), kib: rssKiB(gateway.pid) })
      nextRss += 5000
    }
    if (now >= nextReport) {
      const last = rss.at(-1)
      const atS = Math.round((now - start) / 1000)
      if (inspector) heap.push({ atS, ...(await heapAfterGc(inspector)) })
      const heapNow = inspector ? `, JS heap ${heap.at(-1).used} MiB live of ${heap.at(-1).total} MiB` : ''
      log(`  ${atS} s: ${stats.answered} answered, gateway 5xx ${stats.gateway5xx.length}, RSS ${(last.kib / 1024).toFixed(1)} MiB${heapNow}`)
      nextReport += 30_000
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 1000))])
  rss.push({ atS: Math.round((Date.now() - start) / 1000), kib: rssKiB(gateway.pid) })
  if (inspector) heap.push({ atS: Math.round((Date.now() - start) / 1000), ...(await heapAfterGc(inspector)) })
  agent.destroy()
  return { rss, heap, elapsedS: (Date.now() - start) / 1000 }
}

function summarise({ rss, heap, elapsedS }, originStats) {
  stats.samples.sort((a, b) => a - b)
  const mib = (kib) => Math.round((kib / 1024) * 10) / 10
  const atMinute = rss.find((s) => s.atS >= 60) ?? rss[1] ?? rss[0]
  const final = rss.at(-1)
  const growthMiB = mib(final.kib - atMinute.kib)
  const rssChecked = SECONDS >= RSS_CHECKED_FROM_S
  const noAnswer = Object.values(stats.noAnswer).reduce((a, b) => a + b, 0)
  const result = {
    seconds: SECONDS, rate: RATE, elapsedS: Math.round(elapsedS),
    sent: stats.sent, answered: stats.answered, skipped: stats.skipped, keepAliveRetries: stats.keepAliveRetries, noAnswer: stats.noAnswer,
    byStatus: stats.byStatus, byRoute: stats.byRoute, cacheHits: stats.cacheHits,
    upstream5xx: stats.upstream5xx, upstream5xxByPhase: stats.upstream5xxByPhase, origin5xxPassedOn: stats.origin5xx,
    gateway5xx: stats.gateway5xx.length + (stats.gateway5xx.overflow ?? 0), gateway5xxExamples: stats.gateway5xx.slice(0, 10),
    p50Ms: Math.round(percentile(stats.samples, 50) * 100) / 100, p99Ms: Math.round(percentile(stats.samples, 99) * 100) / 100,
    ...(heap.length > 0 && { jsHeapMiB: heap }),
    rss: { atMiB: { [`${atMinute.atS}s`]: mib(atMinute.kib), [`${final.atS}s (end)`]: mib(final.kib) }, growthMiB, targetMiB: RSS_TARGET_MIB, checked: rssChecked, samples: rss },
    origins: originStats,
  }
  const failures = []
  if (result.gateway5xx > 0) failures.push(`the gateway itself answered ${result.gateway5xx} 5xx`)
  if (noAnswer > 0) failures.push(`${noAnswer} requests got no answer (${JSON.stringify(stats.noAnswer)})`)
  if (rssChecked && growthMiB > RSS_TARGET_MIB) failures.push(`workerd RSS grew ${growthMiB} MiB after the first minute (target <= ${RSS_TARGET_MIB})`)
  return { result, failures }
}

function print({ result, failures }) {
  const codes = Object.entries(result.upstream5xx).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'
  const [[rssAt1Label, rssAt1], [rssEndLabel, rssEnd]] = Object.entries(result.rss.atMiB)
  log(`\nsoak: ${result.elapsedS} s at ${result.rate} req/s${args.routes ? ` (routes: ${args.routes})` : ''}`)
  log(`  requests       ${result.sent} sent, ${result.answered} answered, ${result.skipped} skipped (over ${MAX_IN_FLIGHT} in flight), ${Object.values(result.noAnswer).reduce((a, b) => a + b, 0)} unanswered; ${result.keepAliveRetries} retried after an idle keep-alive connection was closed`)
  log(`  statuses       ${Object.entries(result.byStatus).map(([s, n]) => `${s}: ${n}`).join(', ')}`)
  for (const [route, counts] of Object.entries(result.byRoute)) {
    const hits = route === 'cached' ? ` (cache HIT: ${result.cacheHits})` : ''
    log(`    ${route.padEnd(12)} ${Object.entries(counts).map(([s, n]) => `${s}: ${n}`).join(', ')}${hits}`)
  }
  const flaky = Object.entries(result.origins?.counts ?? {}).filter(([name]) => name.startsWith('flaky:'))
  log(`  flaky target   answered by phase: ${flaky.map(([name, n]) => `${name.slice(6)} ${n}`).join(', ') || 'unknown'}`)
  log(`  upstream 5xx   ${codes} (expected: the flaky target's schedule); origin 5xx passed on: ${result.origin5xxPassedOn}`)
  log(`    by the flaky target's phase when sent: ${Object.entries(result.upstream5xxByPhase).map(([p, n]) => `${p} ${n}`).join(', ') || 'none'}`)
  for (const [why, n] of Object.entries(result.noAnswer)) log(`  no answer      ${why}: ${n}`)
  log(`  gateway's own 5xx: ${result.gateway5xx} (target 0)`)
  for (const e of result.gateway5xxExamples) log(`    ${e.route} ${e.status} ${e.code ?? ''} ${e.body}`)
  log(`  latency        p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms (all answers)`)
  log(`  workerd RSS    ${rssAt1} MiB at ${rssAt1Label}, ${rssEnd} MiB at ${rssEndLabel}: growth ${result.rss.growthMiB} MiB (target <= ${RSS_TARGET_MIB}${result.rss.checked ? '' : `, checked on runs of ${RSS_CHECKED_FROM_S / 60} minutes or more`})`)
  if (result.jsHeapMiB) log(`  JS heap        live/total MiB after a forced GC: ${result.jsHeapMiB.map((h) => `${h.used}/${h.total} at ${h.atS} s`).join(', ')}`)
  log(failures.length ? `\nFAILED: ${failures.join('; ')}` : '\nsoak: passed')
}

async function main() {
  mkdirSync(WORK, { recursive: true })
  const { servers, ctx } = await startBackEnd()
  const { parseConfig } = await importTs(join(ROOT, 'src/config/parse.ts'))
  const config = soakConfig(ctx)
  const parsed = parseConfig(config)
  if (!parsed.ok) throw new Error(`bench/soak-config.mjs does not validate: ${parsed.problems.join('; ')}`)
  const { code } = await bundleGateway(config)
  const inspectorPort = args.heap ? await freePort() : undefined
  const gateway = await startWorkerd(join(WORK, 'gateway'), {
    source: code,
    durableObjects: [{ className: 'RateLimiter', binding: 'RATE_LIMITER' }],
    cachePort: ctx.ports.cache,
    extraArgs: inspectorPort ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [],
  })
  const inspector = inspectorPort ? await openInspector(inspectorPort) : undefined
  log(`soak: ${SECONDS} s at ${RATE} req/s against workerd pid ${gateway.pid} (work dir ${WORK})`)
  const run = await drive(gateway, ctx, inspector)
  inspector?.close()
  servers.send({ type: 'stats' })
  const originStats = await Promise.race([new Promise((r) => servers.once('message', (m) => r(m))), new Promise((r) => setTimeout(() => r(null), 2000))])
  await gateway.stop()
  const outcome = summarise(run, originStats)
  writeFileSync(join(WORK, 'result.json'), JSON.stringify(outcome, null, 2))
  print(outcome)
  return outcome.failures.length === 0
}

let ok = false
try {
  ok = await main()
} catch (err) {
  console.error(`soak: ${err.stack ?? err}`)
} finally {
  stopAll()
  if (!args.keep && ok) rmSync(WORK, { recursive: true, force: true })
}
process.exit(ok ? 0 : 1)
