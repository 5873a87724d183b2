// `edgeway import-openapi api.yaml [--upstream name=url] [--prefix /pets] [--out gateway.json]`
// (here: `npm run import:openapi -- ...`):
// turns an OpenAPI 3.x document (YAML or JSON) into a gateway config, validates it, and prints it
// (or writes it with --out). Notes (security schemes to map, bodies not validated) go to stderr.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { parse } from 'yaml'
import { commandArgs, FROM_SOURCE, loadTools, PACKAGE_ROOT } from './lib.mjs'

const usage = 'usage: edgeway import-openapi api.yaml [--upstream name=url] [--prefix /path] [--out gateway.json]'
const args = commandArgs({ upstream: { type: 'string' }, prefix: { type: 'string' }, out: { type: 'string' } }, usage)
const [file] = args.positionals
const { importOpenApi, parseConfig } = await loadTools()
// `$schema` is resolved against the config file: point it at the schema (the repo's, or the installed package's) from where it lands.
const schemaFile = resolve(PACKAGE_ROOT, FROM_SOURCE ? 'edgeway.schema.json' : 'dist/edgeway.schema.json')
const fromDir = args.values.out ? dirname(resolve(args.values.out)) : process.cwd()
const schema = relative(fromDir, schemaFile).split('\\').join('/')
let result
try {
  result = importOpenApi(parse(readFileSync(file, 'utf8')), { upstream: args.values.upstream, prefix: args.values.prefix, schema: schema.startsWith('.') ? schema : `./${schema}` })
} catch (err) {
  console.error(`${file}: ${err.message}`)
  process.exit(1)
}
for (const note of result.notes) console.error(`note: ${note}`)
const checked = parseConfig(result.config)
if (!checked.ok) {
  console.error(`${file}: the generated config is not valid:`)
  for (const problem of checked.problems) console.error(`  - ${problem}`)
  process.exit(1)
}
const text = JSON.stringify(result.config, null, 2) + '\n'
if (args.values.out) {
  writeFileSync(args.values.out, text)
  console.error(`wrote ${args.values.out} (${result.config.routes.length} routes); check it with: ${FROM_SOURCE ? 'npm run check:config --' : 'npx edgeway check'} ${args.values.out}`)
} else process.stdout.write(text)
