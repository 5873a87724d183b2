// `edgeway init <dir> [--name NAME]`: writes a new gateway project that depends on this package
// (templates/init/), with the wrangler.toml this version needs (compatibility date and flags,
// Durable Object bindings and migrations, the dashboard and portal assets) and the tool versions
// this version is tested with, pinned. Refuses a folder that exists and is not empty.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, join, relative, resolve } from 'node:path'
import { commandArgs, PACKAGE, PACKAGE_ROOT, requirements } from './lib.mjs'

const usage = 'usage: edgeway init <dir> [--name <worker name>]'
const args = commandArgs({ name: { type: 'string' } }, usage)
const dir = resolve(args.positionals[0])
const name = args.values.name ?? basename(dir).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '')
if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) {
  console.error(`"${name}" is not a Worker name (lower-case letters, digits and dashes, at most 63): give one with --name`)
  process.exit(2)
}
if (existsSync(dir) && readdirSync(dir).length > 0) {
  console.error(`${relative(process.cwd(), dir) || dir} exists and is not empty: init writes a new project`)
  process.exit(1)
}

const { compatibilityDate, compatibilityFlags, durableObjects } = await requirements()
/** The versions this package is built and tested with: the generated project pins them. */
const tested = (dep) => {
  const version = PACKAGE.devDependencies?.[dep] ?? PACKAGE.dependencies?.[dep]
  if (!version) throw new Error(`package.json of edgeway lists no ${dep}`)
  return version
}

const toml = (strings) => `[${strings.map((s) => JSON.stringify(s)).join(', ')}]`
const values = {
  name,
  version: PACKAGE.version,
  compatibilityDate,
  compatibilityFlags: toml(compatibilityFlags),
  durableObjectBindings: durableObjects.map((d) => `[[durable_objects.bindings]]\nname = "${d.binding}"\nclass_name = "${d.className}"`).join('\n\n'),
  migrations: `[[migrations]]\ntag = "edgeway-v1"\nnew_sqlite_classes = ${toml(durableObjects.map((d) => d.className))}`,
}
const fill = (text) => text.replace(/\{\{(\w+)\}\}/g, (_, key) => {
  if (!(key in values)) throw new Error(`template placeholder {{${key}}} has no value`)
  return values[key]
})

const packageJson = {
  name,
  version: '0.0.0',
  private: true,
  type: 'module',
  scripts: {
    dev: 'wrangler dev',
    test: 'vitest run',
    check: 'edgeway check',
    schema: 'edgeway schema',
    deploy: 'edgeway deploy',
  },
  // valibot: the schemas of the project's own policies, the same version Edgeway's use.
  dependencies: { edgeway: `^${PACKAGE.version}`, valibot: tested('valibot') },
  devDependencies: Object.fromEntries(
    ['@cloudflare/vitest-pool-workers', '@cloudflare/workers-types', 'typescript', 'vitest', 'wrangler'].map((dep) => [dep, tested(dep)]),
  ),
}

const templates = join(PACKAGE_ROOT, 'templates/init')
const written = []
/** Copies the template tree; `gitignore` becomes `.gitignore` (npm leaves dotfiles named .gitignore out of packages). */
function copy(from, to) {
  for (const entry of readdirSync(from)) {
    const source = join(from, entry)
    const target = join(to, entry === 'gitignore' ? '.gitignore' : entry)
    if (statSync(source).isDirectory()) {
      mkdirSync(target, { recursive: true })
      copy(source, target)
    } else {
      writeFileSync(target, fill(readFileSync(source, 'utf8')))
      written.push(relative(dir, target))
    }
  }
}
mkdirSync(dir, { recursive: true })
copy(templates, dir)
writeFileSync(join(dir, 'package.json'), JSON.stringify(packageJson, null, 2) + '\n')
written.push('package.json')

const shown = relative(process.cwd(), dir) || '.'
console.log(`wrote an Edgeway ${PACKAGE.version} gateway project in ${shown}:`)
for (const file of written.sort()) console.log(`  ${file}`)
console.log(`\nnext:\n  cd ${shown}\n  npm install\n  npm test          # the gateway's tests, in workerd\n  npm run dev       # http://127.0.0.1:8787/hello`)
