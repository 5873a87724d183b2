// `npm run dev`: the demo origins, the demo identity provider (:9103) and the gateway (wrangler dev) on http://127.0.0.1:8787, offline.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { startDemoIssuer } from '../demo/issuer.mjs'
import { startDemoOrigins } from '../demo/origins.mjs'
import { OFFLINE_ENV } from './lib.mjs'

const stopDemoOrigins = await startDemoOrigins()
const stopIssuer = await startDemoIssuer()
const stopOrigins = () => {
  stopDemoOrigins()
  stopIssuer()
}
// The portal's sign-in signs its cookies with PORTAL_SESSION_SECRET: unless .dev.vars sets one, a
// random one for this run (a demo secret, never stored; restarting dev ends the demo's sessions).
const devVars = new URL('../.dev.vars', import.meta.url)
const sessionSecretSet = existsSync(devVars) && /^PORTAL_SESSION_SECRET=/m.test(readFileSync(devVars, 'utf8'))
const sessionSecretVar = sessionSecretSet ? [] : ['--var', `PORTAL_SESSION_SECRET:${randomBytes(32).toString('base64url')}`]
// Wrangler's own bin, not `npx`: npm exec doesn't pass SIGTERM on, which would orphan wrangler.
const wranglerBin = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url))
const wrangler = spawn(
  process.execPath,
  [wranglerBin, 'dev', '--ip', '127.0.0.1', '--port', '8787', '--show-interactive-dev-session=false', ...sessionSecretVar, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, ...OFFLINE_ENV } },
)
// Ends the children, then this process: on a signal, or when the parent (npm) goes away, which
// npm does on `kill -TERM` without passing the signal on. Wrangler ends workerd itself.
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  wrangler.kill('SIGTERM')
  stopOrigins()
  // Bounded: if wrangler doesn't exit within 5 s, it is killed.
  setTimeout(() => wrangler.kill('SIGKILL'), 5_000).unref()
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, stop)
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) stop()
}, 500).unref()
wrangler.on('exit', (code) => {
  stopOrigins()
  process.exit(code ?? 0)
})
