// `npm run bench`: the gateway under raw workerd against a bare worker (the runtime's limit), the
// origin itself, fast-gateway and nginx (when installed), one scenario at a time, A B A B.
//   npm run bench                       full run (several minutes); writes bench/results/
//   npm run bench -- --smoke            seconds-long check that every part still works (CI)
//   npm run bench -- --only=pass-through,jwt --rounds=5 --seconds=5   (partial: bench/work/partial-results/)
//   npm run bench -- --profile          the pass-through with stages removed one at a time, and the full
//                                       pipeline's policies added one at a time, each beside its twin
// Everything runs on 127.0.0.1; every process started is ended on exit, error or time limit.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { startScenarioContext } from './lib/context.mjs'
import { loadFeatures } from './lib/features.mjs'
import { cpuMs } from './lib/cpu.mjs'
import { measure, median, percentile, probe } from './lib/load.mjs'
import { stopAll } from './lib/procs.mjs'
import { evaluateTargets, toMarkdown, toSvg } from './lib/report.mjs'
import { FeatureMissing, LEAN_WORKER, startBareWorker, startFastGateway, startGateway, startHandWritten, startLeanWorker, startNginx } from './lib/targets.mjs'
import { ROOT, WORKERD, startWorkerd, BARE_WORKER, bundleGateway, neverRun } from './lib/workerd.mjs'
import { PROFILE_SCENARIOS, SCENARIOS } from './scenarios.mjs'

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=')
  return [k, v ?? true]
}))
const SMOKE = Boolean(args.smoke)
const PROFILE = Boolean(args.profile)
const ONLY = typeof args.only === 'string' ? new Set(args.only.split(',')) : undefined
const settings = SMOKE
  ? { rounds: 1, warmup: false, levels: [32, 1], amount: { 32: 200, 1: 20 }, startups: 1 }
  : { rounds: Number(args.rounds ?? 3), warmup: true, levels: typeof args.levels === 'string' ? args.levels.split(',').map(Number) : [32, 1], seconds: Number(args.seconds ?? 3), startups: 5 }
settings.describe = settings.amount ? `${settings.amount[32]} requests (32 conns) / ${settings.amount[1]} (1 conn)` : `${settings.seconds} s per target and connection count`
// A watchdog for a hung run, not a target: the smoke's 30-odd scenarios, each bundled and started
// under workerd, take about 3 minutes on 2 busy cores (CI's whole run stays well inside 15).
const TIME_LIMIT_MS = (SMOKE ? 5 : 40) * 60_000
// As scripts/build.mjs: a generous cap that catches an accidental dependency; startup is the real target.
const BUDGET_GZIP = 250 * 1024
const RESULTS = join(ROOT, 'bench/results')
const WORK = join(ROOT, 'bench/work', `${SMOKE ? 'smoke' : 'run'}-${Date.now()}`)

const watchdog = setTimeout(() => {
  console.error(`bench: over its time limit (${TIME_LIMIT_MS / 60_000} min), stopping`)
  process.exit(2)
}, TIME_LIMIT_MS)
watchdog.unref()

const log = (...a) => console.log(...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** req/s and latency of one target at one connection count. */
async function once(target, request, c) {
  const opts = settings.amount ? { connections: c, amount: settings.amount[c] } : { connections: c, seconds: settings.seconds }
  const cpuBefore = cpuMs(target.pid)
  const r = await measure(target.url, request, opts)
  // Microseconds of the target's CPU per answered request.
  r.cpuUs = ((cpuMs(target.pid) - cpuBefore) * 1000) / r.count
  // A rare connection-level error (a peer closing a keep-alive connection) is tolerated; a wrong answer is not.
  if (r.non2xx || r.timeouts || r.errors > Math.max(2, r.count * 0.005)) throw new Error(`${target.label}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} timeouts at ${c} connections`)
  return r
}

/** The lowest and highest of a measure's per-round values: how far one round may read from the median. */
const rangeOf = (values) => [Math.min(...values), Math.max(...values)]

/**
 * One connection count's comparison of A and B: their sides, the medians of the per-round ratios,
 * and each ratio's range over the rounds (`rounds`), so a reader can tell a target missed in every
 * round from one the rounds straddle.
 */
function level(A, B, ra, rb) {
  const per = {
    ratio: ra.map((r, i) => r.rps / rb[i].rps),
    latencyRatio: ra.map((r, i) => r.p50 / rb[i].p50),
    p50DeltaMs: ra.map((r, i) => r.p50 - rb[i].p50),
    cpuRatio: ra.map((r, i) => r.cpuUs / rb[i].cpuUs),
  }
  return {
    a: A,
    b: B,
    ratio: median(per.ratio),
    latencyRatio: median(per.latencyRatio),
    p50DeltaMs: median(per.p50DeltaMs),
    cpuRatio: median(per.cpuRatio),
    rounds: Object.fromEntries(Object.entries(per).map(([name, values]) => [name, rangeOf(values)])),
  }
}

/**
 * A against each baseline, alternated (A B C A B C ...) at each connection count; medians and
 * per-round ratios, one `levels` per baseline. Several baselines in one loop share A's rounds, so
 * A vs the lean worker and A vs the bare worker come from the same minutes of a shared machine.
 */
async function compareAll(a, baselines, request) {
  const all = baselines.map(() => ({}))
  for (const c of settings.levels) {
    if (settings.warmup) {
      for (const t of [a, ...baselines]) await measure(t.url, request, { connections: c, seconds: 1 })
    }
    const ra = []
    const rbs = baselines.map(() => [])
    for (let i = 0; i < settings.rounds; i++) {
      ra.push(await once(a, request, c))
      for (let j = 0; j < baselines.length; j++) rbs[j].push(await once(baselines[j], request, c))
    }
    const pooled = (rs) => percentile(rs.flatMap((r) => Array.from(r.samples)).sort((x, y) => x - y), 99)
    const side = (rs) => ({
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: pooled(rs),
      max: Math.max(...rs.map((r) => r.max)),
      cpuUs: median(rs.map((r) => r.cpuUs)),
      rounds: rs.map((r) => ({ rps: Math.round(r.rps), p50: r.p50, p99: r.p99, cpuUs: r.cpuUs, count: r.count, errors: r.errors })),
    })
    const A = side(ra)
    baselines.forEach((b, j) => {
      const rb = rbs[j]
      const l = (all[j][c] = level(A, side(rb), ra, rb))
      const B = l.b
      log(`  ${String(c).padStart(2)} conns: ${a.label} ${Math.round(A.rps)} req/s p50 ${A.p50.toFixed(2)} ms | ${b.label} ${Math.round(B.rps)} req/s p50 ${B.p50.toFixed(2)} ms | ratio ${l.ratio.toFixed(3)}, p50 +${l.p50DeltaMs.toFixed(3)} ms | CPU/req ${A.cpuUs.toFixed(0)} vs ${B.cpuUs.toFixed(0)} µs (${l.cpuRatio.toFixed(2)}x)`)
    })
  }
  return all
}

/**
 * The hand-written twin against the lean worker, from the rounds both ran beside the gateway (the
 * same per-round ratios as `compareAll`): where the lean targets stand for the same work by hand.
 */
function twinVsLean(leanLevels, handLevels) {
  const out = {}
  for (const [c, lean] of Object.entries(leanLevels)) {
    const hand = handLevels[c]
    if (hand) out[c] = level(hand.b, lean.b, hand.b.rounds, lean.b.rounds)
  }
  return out
}

/** Marks target results as the floor's: the same targets, measured on the work written by hand. */
const asFloor = (results) => results.map((t) => ({ ...t, floor: true }))

/** A and B alternated (A B A B ...). */
async function comparePair(a, b, request) {
  return (await compareAll(a, [b], request))[0]
}

async function checkAnswers(target, request, expect = { status: 200 }, prime = 0) {
  for (let i = 0; i < prime; i++) await probe(target.url, request, i)
  const res = await probe(target.url, request, prime)
  const problems = []
  if (res.status !== (expect.status ?? 200)) problems.push(`status ${res.status} (wanted ${expect.status ?? 200}): ${res.body.slice(0, 400)}`)
  if (expect.header) {
    const [name, pattern] = expect.header
    const value = res.headers[name.toLowerCase()]
    if (value === undefined || !pattern.test(value)) problems.push(`header ${name}: ${value ?? '(absent)'} (wanted ${pattern})`)
  }
  if (problems.length) throw new Error(`${target.label} did not answer as expected: ${problems.join('; ')}`)
}

function bundleSize() {
  const out = join(WORK, 'dist')
  execFileSync(process.execPath, [join(ROOT, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--env=', '--outdir', out], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_HIDE_BANNER: 'true' },
  })
  const raw = Buffer.concat(readdirSync(out).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(out, f))))
  const gzipBytes = gzipSync(raw, { level: 9 }).length
  return {
    rawBytes: raw.length,
    gzipBytes,
    budgetGzipBytes: BUDGET_GZIP,
    target: { what: 'worker bundle, gzip (KiB)', value: gzipBytes / 1024, target: `<= ${BUDGET_GZIP / 1024}`, pass: gzipBytes <= BUDGET_GZIP },
  }
}

/** Startup target (issue 16): process start to first answer, at most this many times the bare worker's. */
const STARTUP_RATIO = 1.5

/** Process start to first answer, gateway / bare worker / lean worker alternated, `settings.startups` times each. */
async function startupTimes(scenario, ctx) {
  const gateway = [], unprepared = [], bare = [], lean = [], neverRan = []
  // CPU (ms, every thread of the workerd process) up to the first answer, beside the wall time.
  const cpu = { gateway: [], unprepared: [], bare: [], lean: [], neverRun: [] }
  // The floor: the gateway's own script, compiled but never run (`neverRun`).
  const floorSource = neverRun((await bundleGateway(scenario.config(ctx), scenario.patches)).code)
  const keep = (list, cpuList, target) => {
    list.push(target.startupMs)
    cpuList.push(target.startupCpuMs)
    return target.stop()
  }
  for (let i = 0; i < settings.startups; i++) {
    await keep(gateway, cpu.gateway, await startGateway(join(WORK, `startup-${i}`), scenario, ctx))
    // The same config as written: validated by the worker on its first request (as before issue 16).
    await keep(unprepared, cpu.unprepared, await startGateway(join(WORK, `startup-unprepared-${i}`), scenario, ctx, { prepare: false }))
    await keep(bare, cpu.bare, await startWorkerd(join(WORK, `startup-bare-${i}`), { source: BARE_WORKER, bindings: { TARGET_URL: ctx.origins.main } }))
    await keep(lean, cpu.lean, await startWorkerd(join(WORK, `startup-lean-${i}`), { source: LEAN_WORKER, bindings: { TARGET_URL: ctx.origins.main } }))
    await keep(neverRan, cpu.neverRun, await startWorkerd(join(WORK, `startup-never-run-${i}`), { source: floorSource }))
  }
  const ratios = gateway.map((g, i) => g / bare[i])
  const ratio = median(ratios)
  const floorRatio = median(neverRan.map((g, i) => g / bare[i]))
  return {
    gateway,
    bare,
    lean,
    unprepared,
    gatewayMedianMs: median(gateway),
    unpreparedMedianMs: median(unprepared),
    bareMedianMs: median(bare),
    leanMedianMs: median(lean),
    neverRun: neverRan,
    neverRunMedianMs: median(neverRan),
    ratio,
    floorRatio,
    cpuMedianMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)])),
    target: { what: 'startup: process start to first answer, gateway / bare worker (median of per-round ratios)', value: ratio, rounds: rangeOf(ratios), target: `<= ${STARTUP_RATIO}`, pass: ratio <= STARTUP_RATIO },
  }
}

async function main() {
  mkdirSync(WORK, { recursive: true })
  const loadStart = os.loadavg()
  const features = await loadFeatures(WORK)

  const { ctx, servers } = await startScenarioContext(WORK)

  log(`bench${SMOKE ? ' (smoke)' : ''}: ${os.cpus()[0]?.model}, ${os.cpus().length} cores, load ${loadStart.map((x) => x.toFixed(2)).join(' ')}`)
  const bundle = bundleSize()
  log(`bundle: ${(bundle.rawBytes / 1024).toFixed(1)} KiB raw, ${(bundle.gzipBytes / 1024).toFixed(1)} KiB gzip`)
  const passThrough = SCENARIOS.find((s) => s.name === 'pass-through')
  const startup = await startupTimes(passThrough, ctx)
  log(`startup: gateway ${startup.gatewayMedianMs.toFixed(1)} ms (config validated at startup: ${startup.unpreparedMedianMs.toFixed(1)} ms), bare worker ${startup.bareMedianMs.toFixed(1)} ms, lean worker ${startup.leanMedianMs.toFixed(1)} ms, the gateway's script never run ${startup.neverRunMedianMs.toFixed(1)} ms (median of ${settings.startups}); gateway/bare ${startup.ratio.toFixed(2)}x (never run/bare ${startup.floorRatio.toFixed(2)}x); CPU to the first answer ${Object.entries(startup.cpuMedianMs).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} ms`)

  const bares = new Map()
  const bareFor = async (name = 'main') => {
    if (!bares.has(name)) bares.set(name, await startBareWorker(WORK, ctx, name))
    return bares.get(name)
  }
  const peers = new Map()
  const peerFor = async (peer) => {
    const key = JSON.stringify(peer)
    if (!peers.has(key)) peers.set(key, await startFastGateway(join(WORK, `fg-${peers.size}`), ctx, peer))
    return peers.get(key)
  }
  // Gateways of other scenarios, as the baseline of a scenario with `versus` (e.g. pass-through).
  let leanWorker
  const versusGateways = new Map()
  const versusFor = async (name) => {
    if (!versusGateways.has(name)) versusGateways.set(name, await startGateway(join(WORK, `versus-${name}`), SCENARIOS.find((s) => s.name === name), ctx))
    return versusGateways.get(name)
  }
  const rows = []
  const failures = []
  const plainRequest = { method: 'GET', path: '/api/items/1' }
  const want = (name) => !ONLY || ONLY.has(name)

  // Reference rows: what the bare worker itself costs, and the peers on the plain route.
  if (want('references') && !PROFILE) {
    const bare = await bareFor()
    const origin = { url: ctx.origins.main, label: 'origin direct', pid: servers.pid }
    const refs = [origin, await peerFor({})]
    const nginx = await startNginx(WORK, ctx)
    if (nginx) refs.push(nginx)
    else rows.push({ name: 'nginx', title: 'nginx', b: 'bare worker', status: 'skipped', reason: 'nginx is not installed' })
    for (const ref of refs) {
      log(`\n${ref.label} vs ${bare.label}`)
      await checkAnswers(ref, plainRequest)
      rows.push({ name: ref.label, title: ref.label, a: ref.label, b: bare.label, metric: 'rps', status: 'ok', levels: await comparePair(ref, bare, plainRequest) })
    }
    if (nginx) await nginx.stop()
  }

  for (const scenario of PROFILE ? PROFILE_SCENARIOS : SCENARIOS) {
    if (!want(scenario.name)) continue
    const base = { name: scenario.name, title: scenario.title, metric: scenario.metric ?? 'rps', targets: scenario.targets }
    const missing = features.missing(scenario.requires)
    if (missing) {
      log(`\n${scenario.name}: skipped, feature not present: ${missing}`)
      rows.push({ ...base, b: 'bare worker', status: 'skipped', reason: `feature not present: ${missing}` })
      continue
    }
    const parsed = features.parseConfig(scenario.config(ctx))
    if (!parsed.ok) {
      const reason = `its config does not validate (adjust bench/scenarios.mjs): ${parsed.problems.join('; ')}`
      log(`\n${scenario.name}: ERROR, ${reason}`)
      rows.push({ ...base, status: 'error', reason })
      failures.push(scenario.name)
      continue
    }
    let gateway
    let against
    let hand
    try {
      gateway = await startGateway(WORK, scenario, ctx)
      const request = scenario.request(ctx)
      await checkAnswers(gateway, request, scenario.expect, scenario.prime)
      if (scenario.measureOnly) {
        // Its own measurement (e.g. 429s expected), reported as a line of text.
        log(`\n${gateway.label}`)
        const extra = await scenario.extra({ url: gateway.url, request, log, smoke: SMOKE, gateway })
        rows.push({ ...base, b: '', status: 'measured', reason: extra.summary, extra })
        continue
      }
      // `against`: the same config built from patched source (e.g. the code path before a change).
      against = scenario.against ? await startGateway(WORK, { ...scenario, name: `${scenario.name}-${scenario.against.name}`, patches: scenario.against.patches }, ctx) : undefined
      const bare = against ?? (scenario.versus ? await versusFor(scenario.versus) : await bareFor(scenario.baseline))
      // A scenario on the plain origin is also measured against the lean worker, in the same rounds.
      const lean = !against && !scenario.versus && (scenario.baseline ?? 'main') === 'main' ? (leanWorker ??= await startLeanWorker(WORK, ctx)) : undefined
      // The same work written by hand, where the scenario has it: the platform's floor for that work.
      hand = lean && scenario.handWritten ? await startHandWritten(WORK, scenario, ctx) : undefined
      if (hand) await checkAnswers(hand, request, scenario.expect, scenario.prime)
      const baselines = [lean, hand, bare].filter(Boolean)
      log(`\n${gateway.label} vs ${baselines.map((b) => b.label).join(' and ')}`)
      const compared = await compareAll(gateway, baselines, request)
      if (lean) {
        const leanRow = { ...base, name: `${scenario.name} vs lean`, a: gateway.label, b: lean.label, status: 'ok', levels: compared[0], targets: scenario.leanTargets }
        leanRow.targetResults = evaluateTargets({ ...leanRow, name: `${scenario.name} vs lean worker` })
        rows.push(leanRow)
      }
      if (hand) {
        const floor = evaluateTargets({ name: `${scenario.name} written by hand vs lean worker`, levels: twinVsLean(compared[0], compared[1]), targets: scenario.leanTargets })
        rows.push({ ...base, name: `${scenario.name} vs hand-written`, a: gateway.label, b: hand.label, status: 'ok', levels: compared[1], targets: undefined, targetResults: asFloor(floor) })
      }
      const row = { ...base, a: gateway.label, b: bare.label, status: 'ok', levels: compared.at(-1) }
      row.targetResults = evaluateTargets({ ...row, targets: { ...row.targets, vsPeer: undefined } })
      if (scenario.extra) row.extra = await scenario.extra({ url: gateway.url, request, log, smoke: SMOKE, gateway })
      rows.push(row)
      if (scenario.peer && !args['no-peer']) {
        const peer = await peerFor(scenario.peer)
        await checkAnswers(peer, request)
        log(`\n${gateway.label} vs ${peer.label}`)
        const prow = { ...base, name: `${scenario.name} vs peer`, title: `${scenario.title}`, a: gateway.label, b: peer.label, metric: 'rps', status: 'ok', levels: await comparePair(gateway, peer, request) }
        prow.targetResults = evaluateTargets({ ...prow, name: `${scenario.name} vs fast-gateway`, targets: { vsPeer: scenario.targets?.vsPeer } })
        rows.push(prow)
        // The floor against the peer: the same work by hand, measured against it in its own rounds.
        if (hand) {
          log(`\n${hand.label} vs ${peer.label}`)
          const hrow = { ...base, name: `${scenario.name} hand-written vs peer`, title: `${scenario.title}: written by hand (the floor)`, a: hand.label, b: peer.label, metric: 'rps', status: 'ok', levels: await comparePair(hand, peer, request) }
          hrow.targetResults = asFloor(evaluateTargets({ ...hrow, name: `${scenario.name} written by hand vs fast-gateway`, targets: { vsPeer: scenario.targets?.vsPeer } }))
          rows.push(hrow)
        }
      }
    } catch (err) {
      if (err instanceof FeatureMissing) {
        log(`\n${scenario.name}: skipped, feature not present: ${err.message}`)
        rows.push({ ...base, b: 'bare worker', status: 'skipped', reason: `feature not present: ${err.message}` })
      } else {
        log(`\n${scenario.name}: ERROR ${err.message}`)
        rows.push({ ...base, status: 'error', reason: err.message })
        failures.push(scenario.name)
      }
    } finally {
      await gateway?.stop()
      await against?.stop()
      await hand?.stop()
    }
  }

  for (const t of [...bares.values(), ...peers.values(), ...versusGateways.values(), leanWorker].filter(Boolean)) await t.stop()
  const run = {
    meta: {
      date: new Date().toISOString(),
      smoke: SMOKE,
      machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      node: process.version,
      workerd: execFileSync(WORKERD, ['--version'], { encoding: 'utf8' }).trim(),
      autocannon: JSON.parse(readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')).version,
      fastGateway: JSON.parse(readFileSync(join(ROOT, 'node_modules/fast-gateway/package.json'), 'utf8')).version,
      loadavg: { start: loadStart, end: os.loadavg() },
      settings,
    },
    bundle,
    startup,
    rows,
  }
  const outDir = SMOKE || ONLY ? join(ROOT, `bench/work/${SMOKE ? 'smoke' : 'partial'}-results`) : RESULTS
  mkdirSync(outDir, { recursive: true })
  const md = toMarkdown(run)
  const name = PROFILE ? 'profile' : 'results'
  writeFileSync(join(outDir, `${name}.json`), JSON.stringify(run, (k, v) => (k === 'samples' ? undefined : v), 2) + '\n')
  writeFileSync(join(outDir, `${name}.md`), md)
  writeFileSync(join(outDir, PROFILE ? 'profile.svg' : 'ratios.svg'), toSvg(run))
  log(`\n${md}`)
  log(`written: ${join(outDir, `${name}.md`)}, ${name}.json, ${PROFILE ? 'profile' : 'ratios'}.svg`)
  if (failures.length) throw new Error(`scenarios failed: ${failures.join(', ')}`)
}

try {
  await main()
  stopAll()
  rmSync(WORK, { recursive: true, force: true })
} catch (err) {
  console.error(`bench failed: ${err.stack ?? err}`)
  console.error(`(process logs kept in ${WORK})`)
  process.exitCode = 1
} finally {
  stopAll()
  clearTimeout(watchdog)
}
