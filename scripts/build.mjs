// Bundles the worker offline (`wrangler deploy --dry-run`) into dist/, prints its size and fails
// when the gzip size is over the budget (the worker script; portal assets have their own budget).
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { OFFLINE_ENV } from './lib.mjs'

const BUDGET_GZIP = 60 * 1024
rmSync('dist', { recursive: true, force: true })
const args = ['wrangler', 'deploy', '--dry-run', '--outdir', 'dist', ...process.argv.slice(2)]
execFileSync('npx', ['--no-install', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...OFFLINE_ENV } })
const js = readdirSync('dist').filter((f) => f.endsWith('.js'))
const raw = Buffer.concat(js.map((f) => readFileSync(`dist/${f}`)))
const gz = gzipSync(raw, { level: 9 }).length
console.log(`bundle: ${(raw.length / 1024).toFixed(1)} KiB raw, ${(gz / 1024).toFixed(1)} KiB gzip (budget ${BUDGET_GZIP / 1024} KiB gzip)`)
if (gz > BUDGET_GZIP) {
  console.error('bundle over its gzip budget: find what grew with esbuild --metafile')
  process.exit(1)
}
