// The soak's load and its bookkeeping (bench/soak.mjs): an open-loop request stream at a fixed rate,
// each request sent to every target (the gateway, and with --baseline the hand-written worker) on
// its own keep-alive agent, each answer classified into that target's stats, and each target's
// workerd RSS read from /proc every 5 s.
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { ROUTES_TOUCHING_FLAKY, UPSTREAM_CODES } from '../soak-config.mjs'
import { heapAfterGc } from './inspector.mjs'

const REQUEST_TIMEOUT_MS = 10_000
export const MAX_IN_FLIGHT = 256 // per target
const MAX_SAMPLES = 2_000_000
const RSS_EVERY_MS = 5000

export function newStats() {
  return {
    sent: 0, answered: 0, skipped: 0, keepAliveRetries: 0, cacheHits: 0, noAnswer: {}, byStatus: {}, byRoute: {}, upstream5xx: {}, upstream5xxByPhase: {}, origin5xx: 0, gateway5xx: [], samples: [],
  }
}
const bump = (map, key) => { map[key] = (map[key] ?? 0) + 1 }

/** Classifies an answer: the target's own 5xx are what the soak is for. */
function record(stats, req, status, headers, body, ms) {
  stats.answered++
  bump(stats.byStatus, status)
  const route = (stats.byRoute[req.route] ??= {})
  bump(route, status)
  if (stats.samples.length < MAX_SAMPLES) stats.samples.push(ms)
  if (/\bhit\b/i.test(headers['cache-status'] ?? headers['cf-cache-status'] ?? '')) stats.cacheHits++
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

function send(stats, agent, port, req, retried = false) {
  const started = process.hrtime.bigint()
  return new Promise((resolve) => {
    const r = http.get({ host: '127.0.0.1', port, path: req.path, headers: req.headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        record(stats, req, res.statusCode, res.headers, Buffer.concat(chunks).toString('utf8'), Number(process.hrtime.bigint() - started) / 1e6)
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
        return resolve(send(stats, false, port, req, true)) // a connection of its own
      }
      const why = err.message === 'timeout' ? 'timeout' : err.code ?? 'error'
      bump(stats.noAnswer, `${req.route}: ${why}${r.reusedSocket ? ' (reused keep-alive socket)' : ''}`)
      resolve()
    })
  })
}

/**
 * A process's resident memory in KiB, from /proc: `kib` (VmRSS) and its two parts, `anonKiB`
 * (RssAnon: heaps, the allocator's and V8's) and `fileKiB` (RssFile: pages of mapped files, mostly
 * the 120 MB workerd binary's code, resident once first run and dropped again under memory pressure).
 */
export function rssKiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN)
    return { kib: field('VmRSS'), anonKiB: field('RssAnon'), fileKiB: field('RssFile') }
  } catch {
    return { kib: NaN, anonKiB: NaN, fileKiB: NaN }
  }
}

/**
 * Where a workerd's anonymous resident memory is, from /proc/<pid>/smaps, in MiB: `v8` (inside
 * V8's 4 GiB pointer-compression cage, a reservation of 3 GiB or more: the JS heaps), `malloc`
 * (inside tcmalloc's 1 GiB hugepage regions, reservations of 0.9-3 GiB: workerd's native memory,
 * connections, buffers, SQLite, BoringSSL) and `other` anonymous mappings. Told apart by the
 * reservations' sizes, which is how V8 and tcmalloc lay out memory on x86-64 Linux; a heuristic,
 * read every 30 s (smaps is too slow to read every 5 s).
 */
export function anonParts(pid) {
  let text
  try { text = readFileSync(`/proc/${pid}/smaps`, 'utf8') } catch { return undefined }
  const maps = []
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line)
    if (m) maps.push({ from: BigInt(`0x${m[1]}`), to: BigInt(`0x${m[2]}`), perm: m[3], path: m[4].trim(), rss: 0 })
    else if (line.startsWith('Rss:') && maps.length > 0) maps.at(-1).rss = Number(line.split(/\s+/)[1])
  }
  const GiB = 2n ** 30n
  const cages = new Set()
  const regions = new Set()
  for (const m of maps) {
    if (m.path !== '' || m.perm !== '---p') continue
    if (m.to - m.from >= 3n * GiB) cages.add(m.from >> 32n)
    else if (m.to - m.from >= (9n * GiB) / 10n) regions.add(m.from >> 30n)
  }
  const parts = { v8: 0, malloc: 0, other: 0 }
  for (const m of maps) {
    if (m.path !== '' && !m.path.startsWith('[')) continue
    const part = cages.has(m.from >> 32n) ? 'v8' : regions.has(m.from >> 30n) ? 'malloc' : 'other'
    parts[part] += m.rss
  }
  for (const k of Object.keys(parts)) parts[k] = Math.round((parts[k] / 1024) * 10) / 10
  return parts
}

/**
 * Runs the load for `seconds` at `rate` against every target ({ name, port, pid, stats, inspector? },
 * the first being the gateway), `requestFor(i)` giving the i-th request and `phase()` the flaky
 * target's phase. Every 30 s it reads where each workerd's memory is; a target with an inspector
 * then also gets a forced GC, and its JS heap and memory are read once more right after it.
 * Returns { rss, parts, heap: { [name]: [{ atS, used, total, kib, anonKiB, fileKiB, parts }] }, elapsedS }.
 */
export async function drive(targets, { seconds, rate, requestFor, phase, log }) {
  for (const t of targets) t.agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const inFlight = new Map(targets.map((t) => [t.name, new Set()]))
  const perTarget = () => Object.fromEntries(targets.map((t) => [t.name, []]))
  const [rss, parts, heap] = [perTarget(), perTarget(), perTarget()]
  const sampleRss = (atS) => { for (const t of targets) rss[t.name].push({ atS, ...rssKiB(t.pid) }) }
  const sampleMemory = async (atS) => {
    for (const t of targets) parts[t.name].push({ atS, ...anonParts(t.pid) })
    await Promise.all(targets.filter((t) => t.inspector).map(async (t) => {
      const js = await heapAfterGc(t)
      heap[t.name].push({ atS, ...js, ...rssKiB(t.pid), parts: anonParts(t.pid) })
    }))
  }
  for (const t of targets) parts[t.name].push({ atS: 0, ...anonParts(t.pid) }) // for runs under a minute
  const start = Date.now()
  const end = start + seconds * 1000
  let i = 0
  let nextReport = start + 30_000
  let nextRss = start
  while (Date.now() < end) {
    const now = Date.now()
    const due = Math.floor(((now - start) / 1000) * rate)
    for (; i < due; i++) {
      const req = { ...requestFor(i), phase: phase(now) }
      for (const t of targets) {
        const pending = inFlight.get(t.name)
        if (pending.size >= MAX_IN_FLIGHT) { t.stats.skipped++; continue }
        t.stats.sent++
        const p = send(t.stats, t.agent, t.port, req)
        pending.add(p)
        p.finally(() => pending.delete(p))
      }
    }
    if (now >= nextRss) {
      sampleRss(Math.round((now - start) / 1000))
      nextRss += RSS_EVERY_MS
    }
    if (now >= nextReport) {
      const atS = Math.round((now - start) / 1000)
      await sampleMemory(atS)
      const each = targets.map((t) => {
        const p = parts[t.name].at(-1)
        const h = heap[t.name].at(-1)
        const afterGc = h ? `; after a forced GC: JS heap ${h.used} live of ${h.total}, RSS ${(h.kib / 1024).toFixed(1)}` : ''
        return `${t.name} ${t.stats.answered} answered, 5xx of its own ${t.stats.gateway5xx.length}, RSS ${(rss[t.name].at(-1).kib / 1024).toFixed(1)} MiB (V8 ${p.v8}, malloc ${p.malloc})${afterGc}`
      })
      log(`  ${atS} s: ${each.join('; ')}`)
      nextReport += 30_000
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  const all = [...inFlight.values()].flatMap((s) => [...s])
  await Promise.race([Promise.allSettled(all), new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 1000))])
  sampleRss(Math.round((Date.now() - start) / 1000))
  await sampleMemory(Math.round((Date.now() - start) / 1000))
  for (const t of targets) t.agent.destroy()
  return { rss, parts, heap, elapsedS: (Date.now() - start) / 1000 }
}
