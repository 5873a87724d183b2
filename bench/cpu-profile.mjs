// `npm run bench:cpu -- [scenario] [--seconds=5] [--connections=32] [--rows=40] [--hand] [--alloc]`: where
// the gateway's CPU goes; with `--hand`, where the scenario's hand-written twin's goes
// (bench/hand-written/), to set the two side by side; with `--alloc`, where its garbage comes from
// instead (V8's sampling heap profiler, objects already collected included: JS bytes allocated per
// request by function and area; a Headers, Request or Response counts only its small JS wrapper,
// not the native object behind it, so read those by how many are made, not by their bytes); with
// `--alloc=old`, only what lived long enough to reach V8's old generation (objects a young
// collection freed left out): the garbage that costs most to collect. V8 counts a native call's time as the caller's own when it has no frame
// of its own to show (the twins call `cache.match` from one big function): compare areas, not one
// native's row.
// Runs one scenario (default pass-through) under raw workerd with its V8 inspector open, an
// unminified bundle so functions keep their names, samples the CPU with the inspector's Profiler
// while autocannon loads it, and prints self time by function and by source area. The raw profile
// (open it in Chrome DevTools' Performance panel) goes to bench/work/cpu-<scenario>.cpuprofile.
// Everything runs on 127.0.0.1; every process started is ended on exit.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startScenarioContext } from './lib/context.mjs'
import { openInspector } from './lib/inspector.mjs'
import { measure, probe } from './lib/load.mjs'
import { freePort, stopAll } from './lib/procs.mjs'
import { ROOT, bundleGateway, startWorkerd } from './lib/workerd.mjs'
import { bundleHandWritten } from './lib/targets.mjs'
import { PROFILE_SCENARIOS, SCENARIOS } from './scenarios.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback)
const name = args.find((a) => !a.startsWith('--')) ?? 'pass-through'
const seconds = option('seconds', 5)
const connections = option('connections', 32)
// How many functions the table lists (the areas: 25).
const rows = option('rows', 40)
const hand = args.includes('--hand')
const alloc = args.some((a) => a === '--alloc' || a === '--alloc=old')
const oldOnly = args.includes('--alloc=old')
// A bench scenario, or one of `--profile`'s variants (stages removed).
const scenario = SCENARIOS.find((s) => s.name === name) ?? PROFILE_SCENARIOS.find((s) => s.name === name)
if (!scenario) {
  console.error(`no scenario "${name}"; one of: ${[...SCENARIOS, ...PROFILE_SCENARIOS].map((s) => s.name).join(', ')}`)
  process.exit(1)
}
const WORK = join(ROOT, 'bench/work')
mkdirSync(WORK, { recursive: true })

/** Self time per node, summed by a key (function name + place, or source area). */
function summarize(profile, keyOf) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const hits = new Map()
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i])
    const key = keyOf(node.callFrame)
    hits.set(key, (hits.get(key) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }
  const total = [...hits.values()].reduce((a, b) => a + b, 0)
  return { total, rows: [...hits.entries()].sort((a, b) => b[1] - a[1]).map(([key, us]) => ({ key, share: us / total })) }
}

// esbuild's unminified bundle marks each source file with a `// src/x.ts` comment line.
function areaIndex(code) {
  const marks = []
  code.split('\n').forEach((line, n) => {
    const m = /^\/\/ (.+\.(?:ts|js|mjs))$/.exec(line)
    if (!m) return
    // A package's area is its name (node_modules may be a link to another checkout's); src/'s is its folder.
    const file = m[1]
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)
    marks.push([n, pkg ? pkg[1] : file.replace(/^(src\/[^/]+\/).*/, '$1')])
  })
  return (line) => {
    let area = '(bundle)'
    for (const [n, a] of marks) {
      if (n > line) break
      area = a
    }
    return area
  }
}

/** How a call frame is named in the tables: its function and place, or its source area (both profiles). */
function frameKeys(code) {
  const area = areaIndex(code)
  return {
    fn: (f) => `${f.functionName || '(anonymous)'} ${f.url ? `${area(f.lineNumber)}:${f.lineNumber + 1}` : ''}`.trim(),
    area: (f) => (f.url ? area(f.lineNumber) : f.functionName || '(native)'),
  }
}

async function main() {
  const { ctx } = await startScenarioContext(WORK)
  if (hand && !scenario.handWritten) throw new Error(`scenario "${name}" has no hand-written twin`)
  const { code } = hand ? await bundleHandWritten(scenario.handWritten.file) : await bundleGateway(scenario.config(ctx), scenario.patches, { minify: false })
  const inspectorPort = await freePort()
  const gateway = await startWorkerd(join(WORK, `cpu-${name}`), {
    source: code,
    bindings: hand ? scenario.handWritten.bindings(ctx) : (scenario.secrets?.(ctx) ?? {}),
    durableObjects: scenario.durableObjects ?? [],
    cachePort: ctx.ports.cache,
    extraArgs: [`--inspector-addr=127.0.0.1:${inspectorPort}`],
  })
  const request = scenario.request(ctx)
  for (let i = 0; i < (scenario.prime ?? 0); i++) await probe(gateway.url, request, i)
  const check = await probe(gateway.url, request, scenario.prime ?? 0)
  if (check.status !== (scenario.expect?.status ?? 200)) throw new Error(`gateway answered ${check.status}: ${check.body.slice(0, 300)}`)
  await measure(gateway.url, request, { connections, seconds: 1 }) // warm-up: JIT and caches

  const inspector = await openInspector(inspectorPort)
  if (alloc) return allocations(inspector, gateway, request, code)
  await inspector.send('Profiler.enable')
  await inspector.send('Profiler.setSamplingInterval', { interval: 100 })
  await inspector.send('Profiler.start')
  const result = await measure(gateway.url, request, { connections, seconds })
  const { profile } = await inspector.send('Profiler.stop')
  inspector.close()
  const out = join(WORK, `cpu-${name}${hand ? '-hand' : ''}.cpuprofile`)
  writeFileSync(out, JSON.stringify(profile))

  const keys = frameKeys(code)
  const byFunction = summarize(profile, keys.fn)
  const byArea = summarize(profile, keys.area)
  const pct = (x) => `${(x * 100).toFixed(1).padStart(5)}%`
  console.log(`${scenario.title}${hand ? ', written by hand' : ''}: ${Math.round(result.rps)} req/s at ${connections} connections, p50 ${result.p50.toFixed(2)} ms; ${profile.samples.length} samples`)
  console.log('\nself time by area (JS thread only; "(idle)" and "(program)" are the runtime outside JS):')
  for (const r of byArea.rows.slice(0, 25)) console.log(`  ${pct(r.share)}  ${r.key}`)
  console.log('\nself time by function:')
  for (const r of byFunction.rows.slice(0, rows)) console.log(`  ${pct(r.share)}  ${r.key}`)
  console.log(`\nprofile: ${out}`)
  await gateway.stop()
}

/** Bytes allocated per request, by function and area, while the scenario runs (`--alloc`). */
async function allocations(inspector, gateway, request, code) {
  await inspector.send('HeapProfiler.enable')
  // A small interval: a request allocates a few KiB, and V8 samples one object per interval's bytes.
  await inspector.send('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: !oldOnly })
  const result = await measure(gateway.url, request, { connections, seconds })
  const { profile } = await inspector.send('HeapProfiler.stopSampling')
  inspector.close()
  const out = join(WORK, `alloc-${name}${hand ? '-hand' : ''}${oldOnly ? '-old' : ''}.heapprofile`)
  writeFileSync(out, JSON.stringify(profile))
  const keys = frameKeys(code)
  const byFunction = new Map()
  const byArea = new Map()
  const add = (map, key, bytes) => map.set(key, (map.get(key) ?? 0) + bytes)
  let total = 0
  const walk = (node) => {
    const f = node.callFrame
    if (node.selfSize > 0) {
      total += node.selfSize
      add(byFunction, keys.fn(f), node.selfSize)
      add(byArea, keys.area(f), node.selfSize)
    }
    for (const child of node.children) walk(child)
  }
  walk(profile.head)
  const requests = result.count
  const perRequest = (bytes) => `${(bytes / requests).toFixed(0).padStart(7)} B`
  const rowsOf = (map) => [...map.entries()].sort((a, b) => b[1] - a[1])
  console.log(`${scenario.title}${hand ? ', written by hand' : ''}: ${Math.round(result.rps)} req/s at ${connections} connections; JS bytes allocated${oldOnly ? ' that reached the old generation' : ''}: ${perRequest(total).trim()} a request (sampled every 256 bytes)`)
  console.log('\nallocated per request by area:')
  for (const [key, bytes] of rowsOf(byArea).slice(0, 25)) console.log(`  ${perRequest(bytes)}  ${key}`)
  console.log('\nallocated per request by function:')
  for (const [key, bytes] of rowsOf(byFunction).slice(0, rows)) console.log(`  ${perRequest(bytes)}  ${key}`)
  console.log(`\nprofile: ${out}`)
  await gateway.stop()
}

main().then(() => { stopAll(); process.exit(0) }, (err) => { console.error(err); stopAll(); process.exit(1) })
