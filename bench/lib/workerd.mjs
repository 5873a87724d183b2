// Runs a Worker under raw `workerd serve` (no Miniflare entry worker, no wrangler dev inspector),
// with a capnp config written here: the `internet` service opened to local addresses, Durable
// Object namespaces with SQLite on local disk, and the Cache API routed to the bench's cache service.
import { build } from 'esbuild'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { join, resolve } from 'node:path'
import { startProcess, stopProcess, freePort } from './procs.mjs'
import { importTs, requirementsOf } from '../../scripts/lib.mjs'
import { threadCpuMs } from './cpu.mjs'

export const ROOT = resolve(import.meta.dirname, '../..')
export const WORKERD = join(ROOT, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd')
// Every worker the bench runs (the gateway, its baselines and twins) gets the date and flags
// wrangler.toml deploys with: `enable_request_signal` among them, so a client that goes away aborts
// `request.signal` here as in production, and its listener costs here what it costs there.
export const { compatibilityDate: COMPATIBILITY_DATE, compatibilityFlags: COMPATIBILITY_FLAGS } = await requirementsOf(join(ROOT, 'wrangler.toml'))

let preparer
/** The config as `npm run build`/`deploy` ship it: validated and defaulted in Node (src/config/prepared.ts). */
export async function prepareConfig(config) {
  preparer ??= importTs(join(ROOT, 'src/config/prepared.ts'))
  const result = await (await preparer).prepareConfig(config)
  if (!result.ok) throw new Error(`the config does not validate: ${result.problems.join('; ')}`)
  return result.prepared
}

/**
 * Bundles the gateway with one scenario's config baked in, as the real entries do
 * (`export default createWorker(config)`), prepared at build time as `npm run build` ships it
 * (`prepare: false`: as written, validated by the worker on its first request, as `wrangler dev`
 * runs it); an ES module, minified like wrangler's.
 */
export async function bundleGateway(config, patches, { minify = true, prepare = true, durableObjects = true } = {}) {
  const contents = [
    "import { createWorker } from './src/lib'",
    durableObjects ? "export * from './src/gateway/durable-objects'" : '',
    `export default createWorker(${JSON.stringify(prepare ? await prepareConfig(config) : config)})`,
  ].join('\n')
  const result = await build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'bench-entry.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    minify,
    external: ['cloudflare:*', 'node:*'],
    // As in wrangler.toml: the config schema's descriptions stay out of the worker.
    define: { SCHEMA_DOCS: 'false' },
    plugins: patches ? [patchPlugin(patches)] : [],
    write: false,
    metafile: true,
    outfile: 'worker.js',
    logLevel: 'error',
  })
  const exports = Object.values(result.metafile.outputs)[0]?.exports ?? []
  return { code: result.outputFiles[0].text, exports }
}

/**
 * The same script, never run (issue 16's startup floor): its code inside a function nothing calls,
 * and a `fetch` that answers every request itself. workerd compiles every module of an upload at
 * startup, imported or not (V8 pre-parses a function's body), so this is what the script's bytes
 * cost before any of its code runs; what the gateway adds on top is its own evaluation and work.
 */
export function neverRun(code) {
  const IMPORT = /import\{[^}]*\}from"[^"]*";/g
  const imports = code.match(IMPORT)?.join('') ?? ''
  const body = code.replace(IMPORT, '').replace(/export\{[^}]*\};?\s*$/, '')
  if (/^\s*export\b|\bexport\{/.test(body)) throw new Error('neverRun: an export left in the body (esbuild wrote its exports differently)')
  return `${imports}function never(){${body}}\nexport default { fetch() { return new Response('ok') } }\n`
}

/**
 * For profiling only: edits source files as they are bundled, `{ 'src/x.ts': [[from, to], ...] }`
 * (`from` a string or a RegExp), so a stage can be removed without touching src/. A `from` that
 * is not found is an error, so a patch that no longer applies is noticed.
 */
function patchPlugin(patches) {
  return {
    name: 'bench-patches',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, async (args) => {
        const rel = args.path.slice(ROOT.length + 1)
        const edits = patches[rel]
        if (!edits) return undefined
        let text = readFileSync(args.path, 'utf8')
        // `from`: a string (its first occurrence) or a RegExp (every match, with /g); `search`
        // ignores a RegExp's /g and lastIndex, so the check leaves it as `replace` needs it.
        for (const [from, to] of edits) {
          const found = typeof from === 'string' ? text.includes(from) : text.search(from) >= 0
          if (!found) throw new Error(`profile patch for ${rel} no longer applies: ${typeof from === 'string' ? JSON.stringify(from) : from}`)
          text = text.replace(from, to)
        }
        return { contents: text, loader: 'ts' }
      })
    },
  }
}

/** The baseline: a Worker that only fetches the origin and returns its response. */
export const BARE_WORKER = `export default {
  fetch(request, env) {
    const url = new URL(request.url)
    return fetch(env.TARGET_URL + url.pathname + url.search, request)
  },
}
`

const q = (s) => JSON.stringify(String(s)) // a capnp text literal

/**
 * Writes `dir/config.capnp` for a worker module. `bindings` are text bindings (vars and secrets),
 * `durableObjects` [{ className, binding }], `cachePort` the cache service's port, `kvNamespaces`
 * [{ binding, port }]: KV bindings served over workerd's KV protocol by a local HTTP server,
 * `v8Flags` flags for V8 (workerd's config has no other memory settings: the cache lives in the
 * cache service, and Durable Object SQLite on disk).
 */
export function writeCapnp(dir, { port, bindings = {}, durableObjects = [], cachePort, kvNamespaces = [], v8Flags = [] }) {
  const services = [
    '(name = "main", worker = .worker)',
    '(name = "internet", network = (allow = ["public", "private", "local"]))',
  ]
  const lines = [
    '  modules = [ (name = "worker.js", esModule = embed "worker.js") ],',
    `  compatibilityDate = ${q(COMPATIBILITY_DATE)},`,
    `  compatibilityFlags = [ ${COMPATIBILITY_FLAGS.map(q).join(', ')} ],`,
  ]
  const bindingList = Object.entries(bindings).map(([name, value]) => `(name = ${q(name)}, text = ${q(value)})`)
  for (const d of durableObjects) bindingList.push(`(name = ${q(d.binding)}, durableObjectNamespace = ${q(d.className)})`)
  for (const kv of kvNamespaces) {
    services.push(`(name = ${q(`kv-${kv.binding}`)}, external = (address = ${q(`127.0.0.1:${kv.port}`)}, http = ()))`)
    bindingList.push(`(name = ${q(kv.binding)}, kvNamespace = ${q(`kv-${kv.binding}`)})`)
  }
  lines.push(`  bindings = [ ${bindingList.join(', ')} ],`)
  if (durableObjects.length > 0) {
    mkdirSync(join(dir, 'do'), { recursive: true })
    services.push(`(name = "do-disk", disk = (path = ${q(join(dir, 'do'))}, writable = true))`)
    const ns = durableObjects.map((d) => `(className = ${q(d.className)}, uniqueKey = ${q(`edgeway-bench-${d.className}`)}, enableSql = true)`)
    lines.push(`  durableObjectNamespaces = [ ${ns.join(', ')} ],`)
    lines.push('  durableObjectStorage = (localDisk = "do-disk"),')
  }
  if (cachePort) {
    services.push(`(name = "cache", external = (address = ${q(`127.0.0.1:${cachePort}`)}, http = ()))`)
    lines.push('  cacheApiOutbound = "cache",')
  }
  const text = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${services.join(',\n    ')},
  ],
  sockets = [ (name = "http", address = ${q(`127.0.0.1:${port}`)}, http = (), service = "main") ],${v8Flags.length > 0 ? `\n  v8Flags = [ ${v8Flags.map(q).join(', ')} ],` : ''}
);
const worker :Workerd.Worker = (
${lines.join('\n')}
);
`
  writeFileSync(join(dir, 'config.capnp'), text)
}

/** Resolves when the server answers any HTTP request; rejects after `timeoutMs`. */
export async function waitUntilAnswering(port, { timeoutMs = 15_000, intervalMs = 5, child } = {}) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`process exited (code ${child.exitCode})`)
    const ok = await new Promise((done) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/__bench_ready', agent: false }, (res) => {
        res.resume()
        res.on('end', () => done(true))
      })
      req.on('error', () => done(false))
      req.setTimeout(2000, () => { req.destroy(); done(false) })
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  throw new Error(`nothing answered on 127.0.0.1:${port} within ${timeoutMs} ms`)
}

/**
 * Starts workerd on a module in its own directory. Returns { port, url, child, stop() }.
 * Its output (console.log lines included) goes to `dir/workerd.log`.
 */
export async function startWorkerd(dir, { source, bindings, durableObjects, cachePort, kvNamespaces, v8Flags, extraArgs = [] }) {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'worker.js'), source)
  const port = await freePort()
  writeCapnp(dir, { port, bindings, durableObjects, cachePort, kvNamespaces, v8Flags })
  const started = process.hrtime.bigint()
  const child = startProcess(WORKERD, ['serve', join(dir, 'config.capnp'), '--experimental', ...extraArgs], { logFile: join(dir, 'workerd.log') })
  await waitUntilAnswering(port, { child, intervalMs: 2 })
  const startupMs = Number(process.hrtime.bigint() - started) / 1e6
  // The CPU it took, every thread: steadier than the wall time on a loaded machine.
  const startupCpuMs = threadCpuMs(child.pid)
  return { port, url: `http://127.0.0.1:${port}`, child, pid: child.pid, startupMs, startupCpuMs, stop: () => stopProcess(child) }
}
