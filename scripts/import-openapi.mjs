// `npm run import:openapi -- api.yaml [--upstream name=url] [--prefix /pets] [--out gateway.json]`:
// turns an OpenAPI 3.x document (YAML or JSON) into a gateway config, validates it, and prints it
// (or writes it with --out). Notes (security schemes to map, bodies not validated) go to stderr.
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parse } from 'yaml'
import { importTs } from './lib.mjs'

const usage = 'usage: npm run import:openapi -- api.yaml [--upstream name=url] [--prefix /path] [--out gateway.json]'
let args
try {
  args = parseArgs({ allowPositionals: true, options: { upstream: { type: 'string' }, prefix: { type: 'string' }, out: { type: 'string' } } })
} catch (err) {
  console.error(`${err.message}\n${usage}`)
  process.exit(2)
}
if (args.positionals.length !== 1) {
  console.error(usage)
  process.exit(2)
}
const [file] = args.positionals
const [{ importOpenApi }, { parseConfig }] = await Promise.all([importTs('scripts/openapi/convert.ts'), importTs('src/config/parse.ts')])
// `$schema` is resolved against the config file: point it at the repo's schema from where it lands.
const schemaFile = fileURLToPath(new URL('../edgeway.schema.json', import.meta.url))
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
  console.error(`wrote ${args.values.out} (${result.config.routes.length} routes); check it with: npm run check:config -- ${args.values.out}`)
} else process.stdout.write(text)
