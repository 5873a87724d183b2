// The one writer of the hot-reload config record (src/config/record.ts): validates a config as
// `check:config` does, gives it the stored version plus one and writes it to the KV key the
// environment's bundled config names in `gateway.reload`. Isolates only ever read the record.
//
//   npm run reload -- config/x.json --env production     write config/x.json as the next version
//   npm run reload -- --delete --env production          write a deletion record: every isolate runs its bundled config
//   --local [--persist-to DIR]   wrangler's local KV (what `wrangler dev` reads); no Cloudflare login needed
//   --version N                  write version N (above the stored one), e.g. over a value that is not a record
//   --wrangler PATH              the wrangler.toml (default ./wrangler.toml)
//
// Without --local it writes the deployed namespace (`wrangler kv key put --remote`, needs a login).
// One writer at a time: KV has no compare-and-swap, so two runs at once could write the same version.
import { readFileSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configProblems, configTools, environment, readStored, writeStored } from './config-tools.mjs'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    env: { type: 'string', short: 'e', default: process.env.CLOUDFLARE_ENV ?? '' },
    delete: { type: 'boolean', default: false },
    local: { type: 'boolean', default: false },
    'persist-to': { type: 'string' },
    version: { type: 'string' },
    wrangler: { type: 'string', default: 'wrangler.toml' },
  },
})

function fail(message) {
  console.error(`reload refused: ${message}`)
  process.exit(1)
}

if (values.delete === (positionals.length === 1) || positionals.length > 1) fail('give one config file, or --delete (and no file)')
const tools = await configTools()
const tomlPath = resolve(values.wrangler)
const { env, file: bundledFile } = await environment(tomlPath, values.env)

// Where the record goes comes from the config the environment bundles, as the isolates read it.
if (!bundledFile) fail(`${env.label}: its entry bundles no config/*.json, so nothing names the reload key`)
const bundled = tools.parseConfig(JSON.parse(readFileSync(bundledFile, 'utf8')), tools.extensions)
if (!bundled.ok) fail(`the bundled ${relative(process.cwd(), bundledFile)} is invalid; run npm run check:config -- --env ${values.env}`)
const reload = bundled.config.gateway.reload
if (!reload) fail(`the config ${env.label} bundles has no gateway.reload: its isolates never read a record`)
if (!env.kvNamespaces.has(reload.kv)) fail(`no KV namespace binding "${reload.kv}" (gateway.reload.kv) declared in ${env.label} of wrangler.toml`)

let config = 'deleted'
if (!values.delete) {
  const file = resolve(positionals[0])
  try {
    config = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    fail(`cannot read ${positionals[0]} as JSON: ${err.message}`)
  }
  const { problems, pending } = configProblems(tools, config, env)
  if (problems.length > 0) {
    console.error(`${positionals[0]} (${env.label}): ${problems.length} problem(s)`)
    for (const problem of problems) console.error(`  - ${problem}`)
    if (pending) console.error(`  ${pending}`)
    fail('nothing written')
  }
  if (config.gateway?.reload !== undefined) console.warn('note: gateway.reload in this file is ignored; isolates keep the bundled config\'s reload settings')
}

const store = { binding: reload.kv, key: reload.key, env: values.env, config: tomlPath, local: values.local, persistTo: values['persist-to'] }
const where = `${reload.kv} "${reload.key}" (${env.label}, ${values.local ? 'local' : 'remote'})`
const stored = readStored(store)
let version
try {
  version = tools.nextVersion(stored)
} catch (err) {
  if (values.version === undefined) fail(err.message)
}
if (values.version !== undefined) {
  const asked = Number(values.version)
  if (!Number.isSafeInteger(asked) || asked < 1) fail('--version must be a whole number of at least 1')
  if (version !== undefined && asked < version) fail(`--version ${asked} is not above the stored version ${version - 1}`)
  version = asked
}

writeStored(store, tools.formatRecord(version, new Date().toISOString(), config))
const propagation = `isolates switch within refreshSeconds (${reload.refreshSeconds} s) plus KV's propagation (up to ~60 s)`
if (values.delete) console.log(`deleted: wrote deletion record version ${version} to ${where}; ${propagation} and then run their bundled config`)
else console.log(`wrote version ${version} to ${where}: ${config.routes.length} routes; ${propagation}`)
