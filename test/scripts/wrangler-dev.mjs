// Shared by the script tests: the demo config under wrangler dev on a free port, with fresh local
// state and the given Worker variables; ready once /status answers (within 60 s).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, OFFLINE_ENV } from '../../scripts/lib.mjs'

const WRANGLER = fileURLToPath(new URL('../../node_modules/wrangler/bin/wrangler.js', import.meta.url))
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** `{ url, stop }`; `stop` ends wrangler (and its workerd) and removes the state. */
export async function startWranglerDev(vars) {
  const port = await freePort()
  const state = mkdtempSync(join(tmpdir(), 'edgeway-script-test-'))
  const wrangler = spawn(
    process.execPath,
    [WRANGLER, 'dev', '--ip', '127.0.0.1', '--port', String(port), '--show-interactive-dev-session=false', '--log-level', 'error', '--persist-to', state,
      ...Object.entries(vars).flatMap(([name, value]) => ['--var', `${name}:${value}`])],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...OFFLINE_ENV }, detached: true },
  )
  const url = `http://127.0.0.1:${port}`
  const stop = () => {
    try { process.kill(-wrangler.pid, 'SIGTERM') } catch {}
    rmSync(state, { recursive: true, force: true })
  }
  for (let i = 0; i < 120 && wrangler.exitCode === null; i++) {
    try {
      if ((await fetch(`${url}/status`, { signal: AbortSignal.timeout(2000) })).ok) return { url, stop }
    } catch {}
    await sleep(500)
  }
  stop()
  throw new Error('wrangler dev did not start within 60 s')
}
