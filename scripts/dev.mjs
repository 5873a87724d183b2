// `npm run dev`: the demo origins, the demo identity provider (:9103) and the gateway (wrangler dev) on http://127.0.0.1:8787, offline.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { startDemoIssuer } from '../demo/issuer.mjs'
import { startDemoOrigins } from '../demo/origins.mjs'
import { OFFLINE_ENV } from './lib.mjs'

const stopDemoOrigins = startDemoOrigins()
const stopIssuer = await startDemoIssuer()
const stopOrigins = () => {
  stopDemoOrigins()
  stopIssuer()
}
// Wrangler's own bin, not `npx`: npm exec doesn't pass SIGTERM on, which would orphan wrangler.
const wranglerBin = fileURLToPath(new URL('../node_modules/wrangler/bin/wrangler.js', import.meta.url))
const wrangler = spawn(
  process.execPath,
  [wranglerBin, 'dev', '--ip', '127.0.0.1', '--port', '8787', '--show-interactive-dev-session=false', ...process.argv.slice(2)],
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
