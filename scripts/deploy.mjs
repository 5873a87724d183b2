// `npm run deploy [-- --env staging]`: checks the config that environment bundles against its
// vars and bindings (scripts/check-config.mjs), then runs `wrangler deploy` with the same arguments.
// The environment is `--env`/`-e` as wrangler reads it, else CLOUDFLARE_ENV, else the top level.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
let env = process.env.CLOUDFLARE_ENV ?? ''
args.forEach((arg, i) => {
  if (arg === '--env' || arg === '-e') env = args[i + 1] ?? ''
  else if (arg.startsWith('--env=')) env = arg.slice('--env='.length)
})
const script = (name) => fileURLToPath(new URL(name, import.meta.url))
const run = (name, argv) => spawnSync(process.execPath, [script(name), ...argv], { stdio: 'inherit' }).status ?? 1

const checked = run('./check-config.mjs', ['--env', env])
if (checked !== 0) {
  console.error('deploy refused: fix the config problems above first')
  process.exit(checked)
}
process.exit(run('./wrangler.mjs', ['deploy', ...args]))
