// Runs wrangler with the project's offline/quiet environment: `node scripts/wrangler.mjs deploy ...`.
import { spawnSync } from 'node:child_process'
import { OFFLINE_ENV } from './lib.mjs'

const { status } = spawnSync('npx', ['--no-install', 'wrangler', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...OFFLINE_ENV, ...process.env },
})
process.exit(status ?? 1)
