// Validates gateway configs offline; exit 1 with the problems.
//   npm run check:config                      every environment in wrangler.toml, each with the config its entry bundles
//   npm run check:config -- --env staging     one environment ('' is the top level)
//   npm run check:config -- config/x.json     a file alone: structure, references and literal upstream URLs
//   ... --env staging config/x.json           a file against that environment
// Against an environment, `${VAR}` in upstream URLs must be one of its [vars] (its URL is then
// checked), or a secret name listed in .dev.vars.example (secrets can't be read offline), and every
// service, Durable Object and mTLS binding the config names must be declared for it.
// Each environment checked must also bind and migrate every Durable Object class this version of
// Edgeway has (scripts/durable-objects-check.mjs), and the problems say what TOML to add.
// Custom policies and actions (`custom:<name>`) are those src/extensions.ts exports (--extensions FILE).
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { configProblems, configTools, environment as readEnvironment, environmentNames, extensionsFile } from './config-tools.mjs'
import { durableObjectProblems } from './durable-objects-check.mjs'
import { PACKAGE, requirements } from './lib.mjs'

const { values, positionals: files } = parseArgs({
  allowPositionals: true,
  options: { env: { type: 'string', short: 'e' }, wrangler: { type: 'string', default: 'wrangler.toml' }, extensions: { type: 'string' } },
})
const tools = await configTools(extensionsFile(values.extensions))

const tomlPath = resolve(values.wrangler)
const show = (file) => relative(process.cwd(), file) || file
const environment = (name) => readEnvironment(tomlPath, name)
const allEnvironments = () => environmentNames(tomlPath)

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

/** A `$schema` file written by another Edgeway version (`edgeway schema`) no longer describes what this one accepts. */
function schemaNotices(file, input) {
  if (typeof input.$schema !== 'string' || /^[a-z][a-z0-9+.-]*:/i.test(input.$schema)) return []
  const schemaFile = resolve(dirname(file), input.$schema)
  let written
  try {
    written = JSON.parse(readFileSync(schemaFile, 'utf8'))['x-edgeway-version']
  } catch {
    return [`$schema: cannot read ${show(schemaFile)}`]
  }
  if (written === undefined || written === PACKAGE.version) return []
  return [`$schema: ${show(schemaFile)} was written by edgeway ${written}, this is ${PACKAGE.version}: run \`npx edgeway schema\` (CHANGELOG.md says what changed)`]
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
  const { problems, pending, config, notices } = configProblems(tools, input, env)
  if (problems.length === 0) {
    console.log(`${label}: ok (${config.routes.length} routes)`)
    for (const notice of [...notices, ...schemaNotices(file, input)]) console.log(`  notice: ${notice}`)
  } else {
    failed = true
    console.error(`${label}: ${problems.length} problem(s)`)
    for (const problem of problems) console.error(`  - ${problem}`)
    // Structural problems stop the checks that span fields: say so, or fixing these looks like the end.
    if (pending) console.error(`  ${pending}`)
  }
}
// The Durable Objects of every environment checked (a file alone: the top level, if there is a wrangler.toml).
if (existsSync(tomlPath)) {
  const names = values.env !== undefined ? [values.env] : files.length > 0 ? [''] : await allEnvironments()
  const required = (await requirements()).durableObjects
  const problems = new Set()
  for (const name of names) for (const problem of await durableObjectProblems(tomlPath, name, required, PACKAGE.version)) problems.add(problem)
  for (const problem of problems) console.error(problem)
  if (problems.size > 0) failed = true
}
process.exit(failed ? 1 : 0)
