// The things a bench measures, each started on demand and ended by the harness:
// the gateway (one workerd per scenario), the bare worker (the baseline), fast-gateway, nginx.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { BARE_WORKER, bundleGateway, startWorkerd, waitUntilAnswering } from './workerd.mjs'
import { firstMessage, freePort, startProcess, stopProcess } from './procs.mjs'
import { startKvServer } from './kv-server.mjs'
import { openInspector } from './inspector.mjs'

export async function startBareWorker(dir, ctx, originName = 'main') {
  const w = await startWorkerd(join(dir, `bare-${originName}`), { source: BARE_WORKER, bindings: { TARGET_URL: ctx.origins[originName] } })
  return { ...w, label: originName === 'main' ? 'bare worker' : `bare worker -> ${originName}` }
}

/** The lean baseline (`bench/lean-worker.js`): the promised minimum of a pass-through, hand-written. */
export const LEAN_WORKER = readFileSync(join(import.meta.dirname, '../lean-worker.js'), 'utf8')

export async function startLeanWorker(dir, ctx) {
  const w = await startWorkerd(join(dir, 'lean'), { source: LEAN_WORKER, bindings: { TARGET_URL: ctx.origins.main } })
  return { ...w, label: 'lean worker' }
}

/**
 * A scenario's hand-written twin (`scenario.handWritten`: { file, bindings(ctx) }, a file in
 * bench/hand-written/): the same work written by hand, as the floor of what that work costs on
 * this platform. The twins share their origin call (`origin-call.js`): bundled into one script.
 */
export async function startHandWritten(dir, scenario, ctx) {
  const { file, bindings } = scenario.handWritten
  const w = await startWorkerd(join(dir, `hand-${scenario.name}`), {
    source: (await bundleHandWritten(file)).code,
    bindings: bindings(ctx),
    cachePort: ctx.ports.cache,
  })
  return { ...w, label: `hand-written ${scenario.name}` }
}

/** A hand-written twin (a file in bench/hand-written/) as one script: `{ code }`. */
export async function bundleHandWritten(file) {
  const built = await build({ entryPoints: [join(import.meta.dirname, '../hand-written', file)], bundle: true, format: 'esm', write: false, logLevel: 'silent' })
  return { code: built.outputFiles[0].text }
}

/** Builds the scenario's bundle and runs it. Throws a FeatureMissing when a DO class isn't exported. */
export async function startGateway(dir, scenario, ctx, { prepare = true } = {}) {
  const { code, exports } = await bundleGateway(scenario.config(ctx), scenario.patches, { prepare })
  for (const d of scenario.durableObjects ?? []) {
    if (!exports.includes(d.className)) throw new FeatureMissing(`Durable Object class "${d.className}" (not exported by src/worker.ts)`)
  }
  // KV namespaces (`scenario.kvNamespaces`: [{ binding, delayMs }]), each a local stand-in at its distance.
  const kvs = await Promise.all((scenario.kvNamespaces ?? []).map(async (k) => ({ binding: k.binding, server: await startKvServer({ delayMs: k.delayMs }) })))
  // `scenario.inspector`: the V8 inspector open, for a scenario that reads the isolate's heap.
  const inspectorPort = scenario.inspector ? await freePort() : undefined
  const w = await startWorkerd(join(dir, `gw-${scenario.name}`), {
    source: code,
    bindings: scenario.secrets?.(ctx) ?? {},
    durableObjects: scenario.durableObjects ?? [],
    cachePort: ctx.ports.cache,
    kvNamespaces: kvs.map((k) => ({ binding: k.binding, port: k.server.port })),
    extraArgs: inspectorPort ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [],
  })
  const inspector = inspectorPort ? await openInspector(inspectorPort) : undefined
  const stop = async () => {
    inspector?.close()
    await w.stop()
    await Promise.all(kvs.map((k) => k.server.close()))
  }
  return { ...w, stop, inspector, kv: kvs.map((k) => ({ binding: k.binding, stats: k.server.stats })), label: `edgeway ${scenario.name}`, bundleBytes: code.length }
}

export class FeatureMissing extends Error {}

export async function startFastGateway(dir, ctx, peer = {}) {
  const port = await freePort()
  const options = { port, origin: ctx.origins.main }
  if (peer.jwt) options.jwt = { jwksUrl: ctx.jwks.url, issuer: ctx.jwks.issuer, audience: ctx.jwks.audience }
  if (peer.rateLimit) options.rateLimit = { limit: 1_000_000_000, windowMs: 60_000 }
  mkdirSync(dir, { recursive: true })
  const child = startProcess(process.execPath, [join(import.meta.dirname, '../peers/fast-gateway.mjs'), JSON.stringify(options)], {
    ipc: true,
    logFile: join(dir, 'fast-gateway.log'),
  })
  await firstMessage(child)
  const policies = [peer.jwt && 'jwt', peer.rateLimit && 'rate limit'].filter(Boolean)
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    label: `fast-gateway${policies.length ? ` (${policies.join(' + ')})` : ''}`,
    stop: () => stopProcess(child),
  }
}

export function nginxPath() {
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/**
 * nginx as a reverse proxy (one process: `master_process off`, so the one pid we start is the one
 * that works and is ended), keep-alive to the origin; only when it is installed.
 */
export async function startNginx(dir, ctx) {
  const bin = nginxPath()
  if (!bin) return undefined
  const port = await freePort()
  const root = join(dir, 'nginx')
  mkdirSync(join(root, 'logs'), { recursive: true })
  const conf = `worker_processes 1;
daemon off;
master_process off;
pid ${join(root, 'nginx.pid')};
error_log ${join(root, 'logs/error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${root}/body; proxy_temp_path ${root}/proxy; fastcgi_temp_path ${root}/fcgi;
  uwsgi_temp_path ${root}/uwsgi; scgi_temp_path ${root}/scgi;
  upstream origin { server ${new URL(ctx.origins.main).host}; keepalive 64; keepalive_requests 1000000; }
  keepalive_requests 1000000; keepalive_timeout 120s;
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`
  writeFileSync(join(root, 'nginx.conf'), conf)
  const child = startProcess(bin, ['-p', root, '-c', join(root, 'nginx.conf')], { logFile: join(root, 'logs/stdout.log') })
  await waitUntilAnswering(port, { child })
  return { url: `http://127.0.0.1:${port}`, pid: child.pid, label: 'nginx (1 process)', stop: () => stopProcess(child) }
}

export const hasNginx = () => nginxPath() !== undefined && existsSync(nginxPath())
