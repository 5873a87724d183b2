// The raw-HTTP suite's harness (test/http/*.test.mjs, run by `npm run test:http`): a recording
// origin, the gateway started the way it really runs, and a client that writes request bytes
// straight onto a TCP socket, so no HTTP library resolves `..`, re-encodes `%2e` or rejects `\`
// before the gateway (or the runtime in front of it) sees them.
//
// Two ways to run the same worker (test/http/entry.ts with test/http/gateway.json):
//   wrangler dev   what `npm run dev` users run: wrangler's proxy worker and Miniflare's entry
//                  worker sit in front and re-parse the URL (they resolve `%2e%2e` and `\`)
//   workerd serve  the bundle `wrangler deploy` uploads, under the bare runtime: the request
//                  target reaches the worker as sent (only literal `.`/`..` segments resolved),
//                  so the gateway's own normalisation is what stands between a trick and a route
// Everything listens on 127.0.0.1 (free ports); every wait is bounded; process groups are killed
// on stop, on exit and on Ctrl-C, so a failing test leaves nothing running.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, OFFLINE_ENV } from '../../scripts/lib.mjs'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ENTRY = 'test/http/entry.ts'
// Wrangler's own bin, not `npx`: npm exec doesn't pass signals on (see scripts/dev.mjs).
const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js')
// The workerd binary wrangler itself runs (wrangler pins it; the project doesn't depend on it directly).
const WORKERD = createRequire(join(ROOT, 'node_modules/wrangler/package.json'))('workerd').default
// Unref'd: a timer left racing a process that already exited must not keep the test file alive.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref())

export const TARGETS = ['wrangler dev', 'workerd serve']


/**
 * An origin that records every request target exactly as it arrived (Node keeps `req.url` raw),
 * with its headers; it answers 200 JSON `{ url }`. Requests Node's parser refuses are recorded
 * too (`parseError`), so "the origin received nothing" can't hide a refused request.
 */
export async function startRecordingOrigin() {
  const seen = []
  const server = http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    seen.push({ method: req.method, url: req.url, headers: req.headers })
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ url: req.url }))
  })
  server.on('clientError', (err, socket) => {
    seen.push({ parseError: err.code, raw: err.rawPacket?.toString('latin1').slice(0, 200) ?? '' })
    socket.destroy()
  })
  const port = await freePort()
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    /** What arrived carrying `x-test-tag: tag`. */
    tagged: (tag) => seen.filter((r) => r.headers?.['x-test-tag'] === tag),
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))),
  }
}

const running = new Set()
const tempDirs = new Set()
function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal)
  } catch {}
}
function cleanUp() {
  running.forEach((child) => killGroup(child, 'SIGKILL'))
  tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }))
}
process.on('exit', cleanUp)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanUp()
    process.exit(130)
  })
}

/** Starts a command in its own process group; keeps its last output for error messages. */
function startProcess(command, args, env = {}) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...OFFLINE_ENV, NO_COLOR: '1', ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let output = ''
  const keep = (chunk) => (output = (output + chunk).slice(-4000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)))
  return {
    child,
    /** Resolves with the exit code (or signal name) once the process has exited. */
    exited,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        killGroup(child, 'SIGTERM')
        if ((await Promise.race([exited.then(() => 'exited'), sleep(3000)])) !== 'exited') killGroup(child, 'SIGKILL')
      }
      // workerd children of wrangler share the group; make sure none outlives it.
      killGroup(child, 'SIGKILL')
      running.delete(child)
    },
  }
}

/** Bundles the suite's entry exactly as `wrangler deploy` would (offline, `--dry-run`), 60 s at most. */
async function bundle(outdir) {
  const proc = startProcess(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir, ENTRY])
  const code = await Promise.race([proc.exited, sleep(60_000).then(() => 'timeout')])
  await proc.stop()
  if (code !== 0) throw new Error(`wrangler deploy --dry-run failed (${code}):\n${proc.output()}`)
  return 'entry.js'
}

const capnpString = (s) => JSON.stringify(s)

/** A workerd config for the bundle: `DEMO_ORIGIN` as a text binding, loopback fetches allowed. */
function workerdConfig(port, moduleName, vars) {
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'))[1]
  const bindings = Object.entries(vars).map(([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`)
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .gateway),
    # The default "internet" service refuses private and loopback addresses; the origin is on 127.0.0.1.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const gateway :Workerd.Worker = (
  modules = [ (name = ${capnpString(moduleName)}, esModule = embed ${capnpString(moduleName)}) ],
  compatibilityDate = ${capnpString(date)},
  bindings = [ ${bindings.join(', ')} ],
);
`
}

/**
 * Starts the gateway on a free 127.0.0.1 port under `target` (one of TARGETS), its upstream pointed
 * at `originUrl`; resolves once it proxies a request (60 s at most).
 */
export async function startGateway(target, originUrl) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-rawhttp-'))
  tempDirs.add(dir)
  let proc
  if (target === 'wrangler dev') {
    const inspector = await freePort()
    proc = startProcess(process.execPath, [
      WRANGLER, 'dev', ENTRY, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector),
      '--show-interactive-dev-session=false', '--log-level', 'error', '--persist-to', dir, '--var', `DEMO_ORIGIN:${originUrl}`,
    ])
  } else if (target === 'workerd serve') {
    const moduleName = await bundle(dir)
    writeFileSync(join(dir, 'config.capnp'), workerdConfig(port, moduleName, { DEMO_ORIGIN: originUrl }))
    proc = startProcess(WORKERD, ['serve', join(dir, 'config.capnp')])
  } else {
    throw new Error(`unknown target ${target}`)
  }
  const gateway = {
    target,
    port,
    /** Sends raw bytes; see `rawRequest`. */
    send: (bytes, options) => rawRequest(port, bytes, options),
    /** A GET of `requestTarget`, written byte for byte (latin1: `\xc0` is the byte 0xC0). */
    get: (requestTarget, headers = {}, options) => rawRequest(port, requestHead('GET', requestTarget, { Host: `127.0.0.1:${port}`, ...headers }), options),
    output: () => proc.output(),
    async stop() {
      await proc.stop()
      rmSync(dir, { recursive: true, force: true })
      tempDirs.delete(dir)
    },
  }
  for (let i = 0; i < 240; i++) {
    if (proc.child.exitCode !== null) break
    try {
      if ((await gateway.get('/__ready', {}, { timeoutMs: 2000 })).status === 200) return gateway
    } catch {}
    await sleep(250)
  }
  const output = proc.output()
  await gateway.stop()
  throw new Error(`${target} did not start within 60 s:\n${output}`)
}

/** An HTTP/1.1 request head (no body); `Connection: close` so each request has its own socket. */
export function requestHead(method, requestTarget, headers) {
  const lines = [`${method} ${requestTarget} HTTP/1.1`, ...Object.entries({ Connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`)]
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
}

/**
 * Writes `bytes` to a fresh connection and reads one HTTP/1.1 response, framed by Content-Length,
 * chunked encoding or the connection closing (the runtime does not always close on
 * `Connection: close`, so framing decides). Rejects after `timeoutMs` with what arrived.
 * A reset after a complete response (the runtime refusing a huge head) is not an error.
 */
export function rawRequest(port, bytes, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let data = Buffer.alloc(0)
    let settled = false
    const finish = (err) => {
      if (settled) return
      const parsed = parseResponse(data)
      if (!err && !parsed.complete && !socket.readableEnded) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (parsed.status) resolve({ ...parsed, closed: socket.readableEnded })
      else reject(new Error(`no HTTP response (${err?.code ?? err?.message ?? 'connection closed'}); got ${JSON.stringify(data.toString('latin1').slice(0, 200))}`))
    }
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs)
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk])
      finish()
    })
    socket.on('end', () => finish())
    socket.on('error', (err) => finish(err))
    socket.on('close', () => finish(new Error('closed')))
    socket.write(bytes)
  })
}

/** Parses what arrived so far: status line, headers (lower-cased), body text, and whether it is all there. */
function parseResponse(data) {
  const end = data.indexOf('\r\n\r\n')
  if (end < 0) return { complete: false }
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine)
  if (!m) return { complete: false }
  const headers = {}
  for (const line of lines) {
    const at = line.indexOf(':')
    headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
  }
  let rest = data.subarray(end + 4)
  let body
  let complete = false
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts = []
    for (;;) {
      const lineEnd = rest.indexOf('\r\n')
      if (lineEnd < 0) break
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16)
      if (size === 0) {
        complete = true
        break
      }
      if (rest.length < lineEnd + 2 + size + 2) break
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size))
      rest = rest.subarray(lineEnd + 2 + size + 2)
    }
    body = Buffer.concat(parts)
  } else if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length'])
    body = rest.subarray(0, length)
    complete = rest.length >= length
  } else {
    body = rest
  }
  return { status: Number(m[1]), statusText: m[2], headers, body: body.toString('utf8'), complete }
}
