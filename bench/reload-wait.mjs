// How long requests wait while an isolate hot-reloads a large config: the gateway under raw
// workerd, its CONFIG_KV served by a local HTTP server (workerd's KV protocol), a 26,619-route
// config record, and a steady stream of requests while the next version replaces it.
// Prints the plain latency (no reload going on) beside the worst wait of a request in flight
// during the reload, for the gateway as built and with slicing off (the whole config validated
// and compiled in one go, as before slices), so the two are measured on the same machine.
//
//   node bench/reload-wait.mjs [--routes 26619] [--concurrency 4] [--runs 1] [--sliced-only] [--trace-gc [--no-forced-gc]] [--keep]
//
// --trace-gc runs workerd with V8's --trace-gc and prints the GC lines logged during the reload
// (the pauses a request may wait behind), and the heap the loaded config holds (after a full
// collection the bench asks for through a `/__gc` path patched into this build only).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { importTs } from '../scripts/lib.mjs'
import { bundleGateway, ROOT, startWorkerd } from './lib/workerd.mjs'
import { startKvServer } from './lib/kv-server.mjs'

const { values } = parseArgs({
  options: {
    routes: { type: 'string', default: '26619' },
    concurrency: { type: 'string', default: '4' },
    runs: { type: 'string', default: '1' },
    'sliced-only': { type: 'boolean', default: false },
    'trace-gc': { type: 'boolean', default: false },
    // With --trace-gc: no full collection forced before the reload, so the reload's own are seen as they come.
    'no-forced-gc': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
})
const ROUTES = Number(values.routes)
const CONCURRENCY = Number(values.concurrency)
const KEY = 'gateway.json'
const { formatRecord } = await importTs(join(ROOT, 'src/config/record.ts'))

/** A large config: `/ping` answers `word`; the other routes proxy, some with header and CORS policies. */
function bigConfig(word) {
  const routes = [{ id: 'ping', match: { path: '/ping' }, action: { type: 'respond', body: word } }]
  for (let i = 1; i < ROUTES; i++) {
    const route = { id: `r${i}`, match: { path: `/svc${i % 97}/items${i}/:id`, methods: ['GET', 'POST'] }, action: { type: 'proxy', upstream: `u${i % 50}`, path: '/x/{params.id}' } }
    if (i % 3 === 0) route.policies = [{ type: 'headers', request: { set: { 'x-route': `r${i}` } } }]
    if (i % 5 === 0) route.policies = [...(route.policies ?? []), { type: 'cors', origins: ['https://app.example.com'] }]
    routes.push(route)
  }
  const upstreams = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`u${i}`, { url: `http://127.0.0.1:${9000 + i}` }]))
  return { upstreams, routes }
}

function get(url) {
  const started = process.hrtime.bigint()
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = ''
        res.on('data', (chunk) => (body += chunk))
        res.on('end', () => resolve({ body, ms: Number(process.hrtime.bigint() - started) / 1e6 }))
      })
      .on('error', reject)
  })
}

const percentile = (list, p) => [...list].sort((a, b) => a - b)[Math.min(list.length - 1, Math.floor((list.length * p) / 100))]

async function measure(label, patches) {
  // Both records made (as bytes) before anything is timed: building them leaves tens of MB of
  // garbage in this process, whose collection would stall the clients' own timing.
  const record = (version, word) => Buffer.from(formatRecord(version, new Date().toISOString(), bigConfig(word)))
  const store = new Map([[KEY, record(1, 'v1')]])
  const next = record(2, 'v2')
  const kv = await startKvServer({ store })
  const bundled = { gateway: { reload: { key: KEY, refreshSeconds: 1 } }, routes: [{ id: 'ping', match: { path: '/ping' }, action: { type: 'respond', body: 'bundled' } }] }
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-reload-bench-'))
  const traceGc = values['trace-gc']
  const { code } = await bundleGateway(bundled, traceGc ? { ...patches, ...GC_PROBE } : patches)
  const v8Flags = traceGc ? ['--trace-gc', '--expose-gc'] : []
  // With the admin API on, as in production: it keeps the config as written for its /config view.
  const worker = await startWorkerd(dir, { source: code, kvNamespaces: [{ binding: 'CONFIG_KV', port: kv.port }], v8Flags, bindings: { ADMIN_TOKEN: 'bench-admin-token' } })
  const log = join(dir, 'workerd.log')
  let row
  try {
    const url = `${worker.url}/ping`
    const first = await get(url) // reads and compiles v1
    if (first.body !== 'v1') throw new Error(`the first answer was ${JSON.stringify(first.body)}, not v1`)
    const plain = []
    for (let i = 0; i < 200; i++) plain.push((await get(url)).ms)
    // A full collection now (its log line says "testing"), so the log says what the running config holds.
    if (traceGc && !values['no-forced-gc']) await get(`${worker.url}/__gc`)

    store.set(KEY, next)
    const during = []
    let switched = false
    const startedAt = Date.now()
    const client = async () => {
      while (!switched && Date.now() - startedAt < 120_000) {
        const { body, ms } = await get(url)
        during.push(ms)
        if (body === 'v2') switched = true
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, client))
    if (!switched) throw new Error('v2 never became active')
    row = {
      label,
      plainMedianMs: percentile(plain, 50),
      plainMaxMs: Math.max(...plain),
      duringRequests: during.length,
      duringMaxMs: Math.max(...during),
      duringP50Ms: percentile(during, 50),
      duringP99Ms: percentile(during, 99),
      over50: during.filter((ms) => ms > 50).length,
      worst: [...during].sort((a, b) => b - a).slice(0, 5),
      reloadSeconds: (Date.now() - startedAt) / 1000,
    }
    return row
  } finally {
    await worker.stop()
    // workerd's output reaches the file in blocks: read it once workerd is gone.
    if (traceGc && row) row.gc = gcAfterProbe(readFileSync(log, 'utf8'))
    kv.close()
    if (values.keep) console.log(`kept ${dir} (workerd.log: its output)`)
    else rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * With --trace-gc, patched into this build only: `/__gc` runs a full collection (V8's
 * `--expose-gc`), which the log reports; every step of a reload logs how long it held the thread.
 */
const GC_PROBE = {
  'src/gateway/host.ts': [
    [
      'async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {',
      "async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {\n    if (request.url.endsWith('/__gc')) { (globalThis as unknown as { gc(): void }).gc(); return new Response('ok') }",
    ],
    // A timer every millisecond while a refresh (read, validate, compile) runs: a gap between two
    // is how long the thread was held, by anything.
    [
      'private async refresh(env: Env): Promise<void> {',
      "private async refresh(env: Env): Promise<void> {\n    let lagDone = false\n    let lagLast = performance.now()\n    const lagTick = () => { const now = performance.now(); if (now - lagLast > 5) console.log(`LAG ${now - lagLast}`); lagLast = now; if (!lagDone) setTimeout(lagTick, 1) }\n    lagTick()\n    try { return await this.refreshWatched(env) } finally { lagDone = true }\n  }\n\n  private async refreshWatched(env: Env): Promise<void> {",
    ],
    // The record's hash, between validating and compiling, is one piece of work too.
    ['const version = await configVersion(body!)', 'const hashStarted = performance.now()\n    const version = await configVersion(body!)\n    console.log(`STEP ${performance.now() - hashStarted}`)'],
  ],
  'src/core/steps.ts': [
    [
      'const next = steps.next()\n    if (next.done) return next.value\n    await pause()',
      "const started = performance.now()\n    const next = steps.next()\n    console.log(`STEP ${performance.now() - started}`)\n    if (next.done) return next.value\n    await pause()",
    ],
  ],
}

/** The heap after the probe's full collection (the loaded config), and the collections after it (the reload). */
function gcAfterProbe(text) {
  const probe = text.lastIndexOf('testing; GC in old space requested')
  const line = text.slice(text.lastIndexOf('\n', probe) + 1, text.indexOf('\n', probe))
  const after = text.slice(text.indexOf('\n', probe))
  const steps = [...after.matchAll(/^STEP ([\d.]+)$/gm)].map((m) => Number(m[1]))
  const lags = [...after.matchAll(/^LAG ([\d.]+)$/gm)].map((m) => Number(m[1]))
  return { loadedHeapMb: gcDuring(line).heapAfterLastFullMb, ...gcDuring(after), steps: steps.length, longestSteps: steps.sort((a, b) => b - a).slice(0, 5), longestLags: lags.sort((a, b) => b - a).slice(0, 5) }
}

/**
 * V8's `--trace-gc` lines logged during the reload: how many collections of each kind, the longest
 * pauses, and the heap after the last full (mark-compact) collection.
 */
function gcDuring(text) {
  const events = []
  for (const line of text.split('\n')) {
    const m = /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact|Mark-Compact \(reduce\))[^\d]*([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, (?:pooled: [\d.]+ MB, )?([\d.]+) \/ ([\d.]+) ms/.exec(line)
    if (m) events.push({ kind: m[1], before: Number(m[2]), after: Number(m[4]), pauseMs: Number(m[6]), line: line.trim() })
  }
  const full = events.filter((e) => e.kind !== 'Scavenge')
  return {
    scavenges: events.length - full.length,
    full: full.length,
    longest: [...events].sort((a, b) => b.pauseMs - a.pauseMs).slice(0, 5),
    heapAfterLastFullMb: full.at(-1)?.after,
  }
}

const SLICED = ['sliced (as built)']
// The same code with one slice holding every route: validation and compilation in one go.
const ONE_SLICE = ['one slice (no yielding)', { 'src/core/steps.ts': [['export const ROUTES_PER_STEP = 100', 'export const ROUTES_PER_STEP = 1e9']] }]
const rows = []
for (let run = 0; run < Number(values.runs); run++) {
  rows.push(await measure(...SLICED))
  if (!values['sliced-only']) rows.push(await measure(...ONE_SLICE))
}
console.log(`reload of a ${ROUTES.toLocaleString('en')}-route config record, ${CONCURRENCY} clients in a loop (ms)`)
console.log('| build | plain median | plain max | requests during reload | p50 during reload | p99 during reload | max wait during reload | over 50 ms | reload took (s) |')
console.log('|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const f = (n) => n.toFixed(1)
  console.log(`| ${r.label} | ${f(r.plainMedianMs)} | ${f(r.plainMaxMs)} | ${r.duringRequests} | ${f(r.duringP50Ms)} | ${f(r.duringP99Ms)} | ${f(r.duringMaxMs)} | ${r.over50} | ${r.reloadSeconds.toFixed(1)} |`)
  console.log(`  ${r.label}: the five longest waits during the reload: ${r.worst.map(f).join(', ')} ms`)
  if (r.gc) {
    console.log(`  heap after loading (full GC): ${r.gc.loadedHeapMb} MB. GC during the reload: ${r.gc.scavenges} scavenges, ${r.gc.full} full; heap after the last full: ${r.gc.heapAfterLastFullMb} MB; longest:`)
    for (const e of r.gc.longest) console.log(`    ${e.line}`)
    console.log(`  steps of the reload: ${r.gc.steps}, the longest (ms, as timed inside workerd, GC pauses included): ${r.gc.longestSteps.join(', ')}`)
    console.log(`  longest gaps between 1 ms timers inside workerd during the reload (the thread held by anything): ${r.gc.longestLags.join(', ')} ms`)
  }
}
if (rows.length > 1) {
  const during = rows.filter((r) => r.label === SLICED[0]).map((r) => r.duringMaxMs)
  console.log(`${SLICED[0]}: max wait during the reload over ${during.length} runs: ${during.map((n) => n.toFixed(1)).join(', ')} ms`)
}
