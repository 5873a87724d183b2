// Validates gateway configs offline; exit 1 with the problems.
//   npm run check:config                      every environment in wrangler.toml, each with the config its entry bundles
//   npm run check:config -- --env staging     one environment ('' is the top level)
//   npm run check:config -- config/x.json     a file alone: structure, references and literal upstream URLs
//   ... --env staging config/x.json           a file against that environment
// Against an environment, `${VAR}` in upstream URLs must be one of its [vars] (its URL is then
// checked), or a secret name listed in .dev.vars.example (secrets can't be read offline), and every
// service, Durable Object and mTLS binding the config names must be declared for it.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { importTs } from './lib.mjs'

const { values, positionals: files } = parseArgs({
  allowPositionals: true,
  options: { env: { type: 'string', short: 'e' }, wrangler: { type: 'string', default: 'wrangler.toml' } },
})
const src = (path) => fileURLToPath(new URL(`../src/${path}`, import.meta.url))
const [{ parseConfig }, { checkEnvironment }] = await Promise.all([importTs(src('config/parse.ts')), importTs(src('config/environment.ts'))])

const tomlPath = resolve(values.wrangler)
const root = dirname(tomlPath)
const show = (file) => relative(process.cwd(), file) || file

/** Secret names (`NAME=...` lines) of .dev.vars.example beside wrangler.toml. */
function secretNames() {
  const file = resolve(root, '.dev.vars.example')
  if (!existsSync(file)) return new Set()
  return new Set([...readFileSync(file, 'utf8').matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]))
}

let wrangler
/** One environment as wrangler resolves it (environments inherit neither vars nor bindings). */
async function environment(name) {
  wrangler ??= await import('wrangler')
  const c = wrangler.unstable_readConfig({ config: tomlPath, env: name || undefined }, { hideWarnings: true })
  const env = {
    label: name ? `[env.${name}]` : 'the top level',
    vars: c.vars ?? {},
    secrets: secretNames(),
    services: new Set((c.services ?? []).map((s) => s.binding)),
    durableObjects: new Set((c.durable_objects?.bindings ?? []).map((b) => b.name)),
    mtlsCertificates: new Set((c.mtls_certificates ?? []).map((m) => m.binding)),
  }
  // The config file its entry bundles: `import config from '../config/x.json'`.
  const main = c.main && resolve(root, c.main)
  const m = main && existsSync(main) && readFileSync(main, 'utf8').match(/import \w+ from '([^']+\.json)'/)
  return { env, file: m ? resolve(dirname(main), m[1]) : undefined }
}

async function allEnvironments() {
  wrangler ??= await import('wrangler')
  const { rawConfig } = wrangler.experimental_readRawConfig({ config: tomlPath })
  return ['', ...Object.keys(rawConfig.env ?? {})]
}

/** [file, environment or undefined] pairs to check. */
async function plan() {
  if (values.env === undefined && files.length > 0) return files.map((file) => [resolve(file), undefined])
  const names = values.env !== undefined ? [values.env] : await allEnvironments()
  const out = []
  for (const name of names) {
    const { env, file } = await environment(name)
    if (files.length > 0) for (const f of files) out.push([resolve(f), env])
    else if (file) out.push([file, env])
    else console.warn(`${env.label}: its entry bundles no config/*.json; nothing to check`)
  }
  return out
}

let failed = false
for (const [file, env] of await plan()) {
  const label = env ? `${show(file)} (${env.label})` : show(file)
  let input
  try {
    input = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    console.error(`${label}: cannot read as JSON: ${err.message}`)
    failed = true
    continue
  }
  const result = parseConfig(input)
  const problems = result.ok ? checkEnvironment(result.config, env) : result.problems
  if (problems.length === 0) {
    console.log(`${label}: ok (${result.config.routes.length} routes)`)
    for (const notice of result.notices) console.log(`  notice: ${notice}`)
  } else {
    failed = true
    console.error(`${label}: ${problems.length} problem(s)`)
    for (const problem of problems) console.error(`  - ${problem}`)
    // Structural problems stop the checks that span fields: say so, or fixing these looks like the end.
    if (!result.ok && result.pending) console.error(`  ${result.pending}`)
  }
}
process.exit(failed ? 1 : 0)
