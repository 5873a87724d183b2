// Shared by the browser tests: a gateway the way a user runs it (wrangler dev with the demo config,
// fresh local state, the demo origins on free ports) and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import { chromium } from 'playwright-core'
import { listenDemoOrigins } from '../../demo/origins.mjs'
import { freePort, OFFLINE_ENV } from '../../scripts/lib.mjs'

export const ARTIFACTS = process.env.TEST_ARTIFACTS ?? 'test-artifacts'
// As the machine's notes say: without the background-networking flags Chromium tries hosts this
// closed network refuses.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))


/**
 * Starts wrangler dev with the demo config; resolves once `ready` (a path, with `headers`) answers
 * 2xx, within 60 s. `vars` are extra Worker variables (e.g. the admin token); `script` another
 * entry than wrangler.toml's `main` (a test's variant of the demo config).
 */
export async function startDemoGateway({ ready, headers = {}, vars = {}, script }) {
  const { usersPort, ordersPort, flakyPort, stop: stopOrigins } = await listenDemoOrigins()
  const port = await freePort()
  const state = mkdtempSync(join(tmpdir(), 'edgeway-browser-'))
  const allVars = { ...vars, DEMO_ORIGIN: `http://127.0.0.1:${usersPort}`, DEMO_ORIGIN_B: `http://127.0.0.1:${ordersPort}`, DEMO_ORIGIN_FLAKY: `http://127.0.0.1:${flakyPort}` }
  const wrangler = spawn(
    'npx',
    ['--no-install', 'wrangler', 'dev', ...(script ? [script] : []), '--ip', '127.0.0.1', '--port', String(port), '--show-interactive-dev-session=false', '--log-level', 'error',
      '--persist-to', state, ...Object.entries(allVars).flatMap(([name, value]) => ['--var', `${name}:${value}`])],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...OFFLINE_ENV }, detached: true },
  )
  const url = `http://127.0.0.1:${port}`
  const stop = () => {
    try {
      process.kill(-wrangler.pid, 'SIGTERM')
    } catch {}
    stopOrigins()
    rmSync(state, { recursive: true, force: true })
  }
  for (let i = 0; i < 120; i++) {
    if (wrangler.exitCode !== null) break
    try {
      if ((await fetch(`${url}${ready}`, { headers })).ok) return { url, stop }
    } catch {}
    await sleep(500)
  }
  stop()
  throw new Error('wrangler dev did not start within 60 s')
}

/** The demo gateway with a random admin token; ready once the admin API answers. */
async function startDashboardGateway() {
  const token = randomBytes(24).toString('base64url')
  const started = await startDemoGateway({ ready: '/_edgeway/health', headers: { Authorization: `Bearer ${token}` }, vars: { ADMIN_TOKEN: token } })
  return { ...started, token }
}

/** EDGEWAY_URL (and EDGEWAY_ADMIN_TOKEN) when set: a gateway already running; else a fresh one. */
export async function dashboardGateway() {
  if (!process.env.EDGEWAY_URL) return startDashboardGateway()
  const token = process.env.EDGEWAY_ADMIN_TOKEN ?? ''
  if (!token) throw new Error('EDGEWAY_ADMIN_TOKEN must be set with EDGEWAY_URL')
  return { url: process.env.EDGEWAY_URL.replace(/\/$/, ''), token, stop() {} }
}

/** EDGEWAY_URL when set: a gateway already running; else a fresh one, ready once the portal is. */
export async function portalGateway() {
  if (process.env.EDGEWAY_URL) return { url: process.env.EDGEWAY_URL.replace(/\/$/, ''), stop() {} }
  return startDemoGateway({ ready: '/portal/portal.json' })
}

/**
 * For a test file: a gateway (`start`: portalGateway or dashboardGateway) and Chromium, started
 * before its tests and stopped after them. Read `.gateway` and `.browser` inside the tests.
 */
export function gatewayAndBrowser(start) {
  const session = { gateway: undefined, browser: undefined }
  before(async () => {
    session.gateway = await start()
    session.browser = await launchChromium()
  })
  after(async () => {
    await session.browser?.close()
    session.gateway?.stop()
  })
  return session
}

export async function launchChromium() {
  mkdirSync(ARTIFACTS, { recursive: true })
  return chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS })
}
