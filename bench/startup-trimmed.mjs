// Would a build holding only what its config uses start within issue 16's 1.5x of the bare worker?
// A feasibility measurement, not a build we ship: the pass-through config's bundle with every
// feature it does not use cut out at bundling time (every policy but `request-id`, the admin API's
// feature endpoints, the developer portal and sign-in, aggregation, the Durable Object classes),
// started beside the bare worker and the gateway as built, alternated, each `--runs` times.
// Prints each one's raw size, the median wall time from process start to its first answer, and
// the CPU it took to get there (every thread, from /proc); and the trimmed bundle compiled but never
// run, which splits its time between its bytes and its code.
//
//   node bench/startup-trimmed.mjs [--runs 7]
//
// The cuts are source edits made while bundling (`bundleGateway`'s patches; src/ is untouched); an
// edit that no longer applies stops the script, so a renamed import is noticed.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { startScenarioContext } from './lib/context.mjs'
import { median } from './lib/load.mjs'
import { stopAll } from './lib/procs.mjs'
import { BARE_WORKER, bundleGateway, neverRun, ROOT, startWorkerd } from './lib/workerd.mjs'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } })
const stub = (name) => `const ${name} = (() => { throw new Error('not in this build') }) as any`

/** `bundleGateway`'s patches: `{ file: [[from, to], ...] }`, `from` a string or a RegExp; each must match. */
const CUTS = {
  'src/config/policies.ts': [
    [/^import \{ (?!requestIdPolicy\b)\w+Policy \} from .*$/gm, ''],
    [/const POLICIES = \[[\s\S]*?\] as const/, 'const POLICIES = [requestIdPolicy] as const'],
  ],
  'src/gateway/admin.ts': ['apiKeyAdmin', 'consumerStoreAdmin', 'cacheAdmin', 'dashboard', 'rateLimitAdmin', 'adminTokenGuard'].map((name) => [
    new RegExp(`^import \\{ ${name} \\} from .*$`, 'm'),
    stub(name),
  ]),
  'src/gateway/create-gateway.ts': [
    ["import { developerPages } from '../openapi/serve'", 'const developerPages = () => {}'],
    ["import { developerAccounts } from '../auth/portal-keys'", 'const developerAccounts = () => {}'],
  ],
  'src/gateway/route.ts': [["import { aggregateAction } from '../aggregate/action'", stub('aggregateAction')]],
  'src/config/parse.ts': [["import { checkAggregate } from '../aggregate/checks'", 'const checkAggregate = (..._: unknown[]): any[] => []']],
  'src/config/schema.ts': [
    ["import { AggregateActionSchema } from '../aggregate/schema'", "const AggregateActionSchema = v.strictObject({ type: v.literal('aggregate') })"],
  ],
}

const dir = join(ROOT, 'bench/work/startup-trimmed')
mkdirSync(dir, { recursive: true })
const { ctx } = await startScenarioContext(dir)
try {
  const config = { upstreams: { origin: { url: ctx.origins.main } }, routes: [{ id: 'api', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } }] }
  const trimmed = (await bundleGateway(config, CUTS, { durableObjects: false })).code
  // `trimmed, never run`: its bytes compiled, none of its code run (as the bench's startup floor).
  const workers = { bare: BARE_WORKER, gateway: (await bundleGateway(config)).code, trimmed, 'trimmed, never run': neverRun(trimmed) }
  const seen = Object.fromEntries(Object.keys(workers).map((name) => [name, { wall: [], cpu: [] }]))
  for (let run = 0; run < Number(values.runs); run++) {
    for (const [name, source] of Object.entries(workers)) {
      const w = await startWorkerd(join(dir, name), { source, bindings: { TARGET_URL: ctx.origins.main } })
      const res = await fetch(`${w.url}/api/items/1`)
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`${name} answered ${res.status}`)
      seen[name].wall.push(w.startupMs)
      seen[name].cpu.push(w.startupCpuMs)
      await w.stop()
    }
  }
  const bare = median(seen.bare.wall)
  for (const [name, { wall, cpu }] of Object.entries(seen)) {
    const kib = (Buffer.byteLength(workers[name]) / 1024).toFixed(1)
    console.log(`${name.padEnd(18)} ${kib.padStart(6)} KiB  first answer ${median(wall).toFixed(1)} ms (${(median(wall) / bare).toFixed(2)}x bare), CPU ${median(cpu).toFixed(1)} ms`)
  }
} finally {
  stopAll()
}
process.exit(0)
