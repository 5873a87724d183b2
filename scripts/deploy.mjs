// `npm run deploy [-- --env staging]`: checks the config that environment bundles against its
// vars and bindings (scripts/check-config.mjs); with `gateway.reload`, checks the config record
// stored in KV with this code too (new isolates run it, not the bundled config); then runs
// `wrangler deploy` with the same arguments, on an entry whose config was validated and defaulted
// here (`.edgeway/<env>/`, see preparedEntry in config-tools.mjs), so the worker skips its validator.
// The environment is `--env`/`-e` as wrangler reads it, else CLOUDFLARE_ENV, else the top level.
// `--record-local [--record-persist-to DIR]` reads the record from wrangler's local KV instead of
// the deployed one (tests; no login); these two are not passed on to wrangler.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkRecord, configTools, environment, preparedEntry, readStored } from './config-tools.mjs'

const args = []
let env = process.env.CLOUDFLARE_ENV ?? ''
let recordLocal = false
let recordPersistTo
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]
  if (arg === '--record-local') recordLocal = true
  else if (arg === '--record-persist-to') recordPersistTo = argv[++i]
  else {
    args.push(arg)
    if (arg === '--env' || arg === '-e') env = argv[i + 1] ?? ''
    else if (arg.startsWith('--env=')) env = arg.slice('--env='.length)
  }
}
const script = (name) => fileURLToPath(new URL(name, import.meta.url))
const run = (name, argv) => spawnSync(process.execPath, [script(name), ...argv], { stdio: 'inherit' }).status ?? 1

const envArg = env ? ` --env ${env}` : ''

function refuse(lines) {
  for (const line of lines) console.error(line)
  console.error('deploy refused: fix the config problems above first')
  process.exit(1)
}

const checked = run('./check-config.mjs', ['--env', env])
if (checked !== 0) refuse([])

/** Problems with the stored record, as this code's isolates would meet them (none without reload). */
async function recordProblems() {
  const tools = await configTools()
  const tomlPath = resolve('wrangler.toml')
  const { env: target, file } = await environment(tomlPath, env)
  const reload = file && tools.parseConfig(JSON.parse(readFileSync(file, 'utf8')), tools.extensions).config?.gateway.reload
  if (!reload) return []
  const where = `${reload.kv} "${reload.key}" (${target.label})`
  if (!target.kvNamespaces.has(reload.kv)) return [`gateway.reload.kv: no KV namespace binding "${reload.kv}" declared in ${target.label} of wrangler.toml`]
  const stored = readStored({ binding: reload.kv, key: reload.key, env, config: tomlPath, local: recordLocal, persistTo: recordPersistTo })
  if (stored === null) {
    if (reload.fallback === 'bundled') {
      console.log(`${where}: no config record; new isolates run the bundled config (reload.fallback "bundled")`)
      return []
    }
    return [
      `${where}: no config record, so every new isolate would answer 503 ERR_CONFIG_UNAVAILABLE.`,
      `  Write one first (npm run reload -- <file>${envArg}; --delete to run the bundled config), or set gateway.reload.fallback: "bundled".`,
    ]
  }
  const { ok, header, problems } = checkRecord(tools, stored, target)
  const which = header ? `the stored config record (version ${header.version})` : 'the stored value'
  if (ok) {
    console.log(`${where}: ${which} is ok with this code${header.deleted ? ' (a deletion: the bundled config runs)' : ''}`)
    return []
  }
  return [`${where}: this code would refuse ${which}:`, ...problems.map((p) => `  - ${p}`), `  Write a config this code accepts first: npm run reload -- <file>${envArg}`]
}

const problems = await recordProblems()
if (problems.length > 0) refuse(problems)
// The bundled config goes up validated and defaulted (the worker skips its validator at startup).
const entry = await preparedEntry(resolve('wrangler.toml'), env)
process.exit(run('./wrangler.mjs', ['deploy', ...(entry ? [entry] : []), ...args]))
