// `npm run dev`: the demo origins, the demo identity provider (:9103) and the gateway (wrangler dev) on http://127.0.0.1:8787, offline.
import { spawn } from 'node:child_process'
import { startDemoIssuer } from '../demo/issuer.mjs'
import { startDemoOrigins } from '../demo/origins.mjs'
import { OFFLINE_ENV } from './lib.mjs'

const stopDemoOrigins = startDemoOrigins()
const stopIssuer = await startDemoIssuer()
const stopOrigins = () => {
  stopDemoOrigins()
  stopIssuer()
}
const wrangler = spawn(
  'npx',
  ['--no-install', 'wrangler', 'dev', '--ip', '127.0.0.1', '--port', '8787', '--show-interactive-dev-session=false', ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, ...OFFLINE_ENV } },
)
const stop = () => {
  wrangler.kill('SIGINT')
  stopOrigins()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
wrangler.on('exit', (code) => {
  stopOrigins()
  process.exit(code ?? 0)
})
