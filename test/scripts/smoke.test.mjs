// `npm run smoke` against gateways running here: the demo under wrangler dev (with its demo
// origins) must pass; a server that misbehaves like a broken gateway must fail, naming the check.
//
// Run: npm run test:scripts (or node --test test/scripts/smoke.test.mjs)
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { listenDemoOrigins } from '../../demo/origins.mjs'
import { startWranglerDev } from './wrangler-dev.mjs'

const SMOKE = fileURLToPath(new URL('../../scripts/smoke.mjs', import.meta.url))
const ADMIN_TOKEN = 'smoke-test-admin-token'

/** Runs the smoke script to its end (bounded): { code, out }. */
function smoke(...args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SMOKE, ...args, '--timeout-ms', '8000'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c) => { out += c })
    child.stderr.on('data', (c) => { out += c })
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, out }) })
  })
}

/** The demo config under wrangler dev, demo origins on free ports, fresh local state. */
async function startDemo() {
  const { usersPort, ordersPort, flakyPort, stop: stopOrigins } = await listenDemoOrigins()
  const vars = { ADMIN_TOKEN, DEMO_ORIGIN: `http://127.0.0.1:${usersPort}`, DEMO_ORIGIN_B: `http://127.0.0.1:${ordersPort}`, DEMO_ORIGIN_FLAKY: `http://127.0.0.1:${flakyPort}` }
  try {
    const gateway = await startWranglerDev(vars)
    return { url: gateway.url, stop: () => (gateway.stop(), stopOrigins()) }
  } catch (err) {
    stopOrigins()
    throw err
  }
}

/**
 * A broken gateway: serves the real gateway's OpenAPI document (so the smoke finds the same
 * routes), then answers every other request 500, and unknown paths with a plain-text 404.
 */
function startBroken(openapi) {
  const server = http.createServer((req, res) => {
    if (req.url === '/openapi.json') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(openapi))
    if (req.url.startsWith('/__edgeway-smoke')) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
    res.writeHead(500, { 'content-type': 'text/html' }).end('<h1>Internal Server Error</h1>')
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, server })))
}

describe('npm run smoke', () => {
  let demo
  before(async () => { demo = await startDemo() })
  after(() => demo?.stop())

  it('passes against the demo, checking each feature the config has (admin token given)', async () => {
    const { code, out } = await smoke(demo.url, '--admin-token', ADMIN_TOKEN)
    assert.equal(code, 0, out)
    for (const check of ['admin /config', 'health (admin)', 'OpenAPI document', 'problem+json: unknown path is 404', 'auth me: 401 without credentials',
      'cache users-cached: MISS then HIT', 'rate limit limited-demo: 429 after the limit', 'latency: limited vs unlimited', 'route profile']) {
      assert.match(out, new RegExp(`^${check.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+ok`, 'm'), `${check} should be ok\n${out}`)
    }
    assert.match(out, /0 failed/)
  })

  it('without the admin token, says what it could not check and why', async () => {
    const { code, out } = await smoke(demo.url)
    assert.equal(code, 0, out)
    assert.match(out, /^health \(admin\)\s+not checked\s+needs --admin-token/m)
    assert.match(out, /^cache: MISS then HIT\s+not checked\s+needs --admin-token/m)
  })

  it('fails (exit 1, naming the checks) against a gateway answering 500 and non-problem errors', async () => {
    const openapi = await (await fetch(`${demo.url}/openapi.json`)).json()
    const broken = await startBroken(openapi)
    try {
      const { code, out } = await smoke(broken.url)
        assert.equal(code, 1, out)
      assert.match(out, /^problem\+json: unknown path is 404\s+FAILED\s+expected application\/problem\+json/m)
      assert.match(out, /^route profile\s+FAILED\s+GET \/profile\/1: 500/m)
      assert.match(out, /^auth me: 401 without credentials\s+FAILED/m)
      assert.match(out, /FAILED: .*problem\+json: unknown path is 404/)
    } finally {
      broken.server.close()
    }
  })
})
