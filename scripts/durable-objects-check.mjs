// `edgeway check`'s comparison of a project's wrangler.toml with the Durable Objects the installed
// Edgeway needs (dist/durable-objects.json; this repository's wrangler.toml in a checkout). Every
// class must be bound in every environment and created by a SQLite migration, even for a feature
// the config doesn't use yet: a hot-reloaded config (`edgeway reload`) can switch a feature on
// without a deploy, and only a deploy applies migrations. The answer is the TOML to paste.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'

/** Classes a list of migrations leaves existing with SQLite storage, and those it left key-value. */
function migratedClasses(migrations) {
  const sqlite = new Set()
  const keyValue = new Set()
  for (const m of migrations) {
    for (const name of m.new_sqlite_classes ?? []) sqlite.add(name)
    for (const name of m.new_classes ?? []) keyValue.add(name)
    for (const { from, to } of m.renamed_classes ?? []) {
      for (const set of [sqlite, keyValue]) if (set.delete(from)) set.add(to)
    }
    for (const name of m.deleted_classes ?? []) {
      sqlite.delete(name)
      keyValue.delete(name)
    }
  }
  return { sqlite, keyValue }
}

const quoteList = (names) => `[${names.map((n) => JSON.stringify(n)).join(', ')}]`

/** Whether the Worker's entry re-exports the classes: wrangler binds only exported classes. */
function exportsClasses(mainFile, classes) {
  if (!mainFile || !existsSync(mainFile)) return classes
  const text = readFileSync(mainFile, 'utf8')
  if (/export\s*\*\s*from\s*['"](edgeway|edgeway\/durable-objects|[^'"]*\/(worker|lib|durable-objects))['"]/.test(text)) return []
  return classes.filter((name) => !new RegExp(`\\b${name}\\b`).test(text))
}

/**
 * Problems of one environment ('' is the top level), each a message followed by the TOML to add.
 * Environments that inherit the top level's migrations repeat its message word for word (callers dedupe).
 * `required` is `[{ className, binding, tag }]`; `version` names the Edgeway that needs them.
 */
export async function durableObjectProblems(tomlPath, name, required, version) {
  const { experimental_readRawConfig } = await import('wrangler')
  const { rawConfig } = experimental_readRawConfig({ config: tomlPath })
  const scope = name ? rawConfig.env?.[name] ?? {} : rawConfig
  const label = name ? `[env.${name}]` : 'the top level'
  const prefix = name ? `env.${name}.` : ''
  const file = relative(process.cwd(), tomlPath) || tomlPath
  const needs = `edgeway ${version} needs`
  const problems = []

  // Bindings are not inherited by environments; migrations are, unless the environment has its own.
  const bound = new Set((scope.durable_objects?.bindings ?? []).map((b) => b.class_name))
  const unbound = required.filter((r) => !bound.has(r.className))
  if (unbound.length > 0) {
    const toml = unbound.map((r) => `[[${prefix}durable_objects.bindings]]\nname = "${r.binding}"\nclass_name = "${r.className}"`).join('\n\n')
    problems.push(`${file} ${label}: no Durable Object binding for ${unbound.map((r) => r.className).join(', ')}, which ${needs}. Add:\n\n${toml}\n`)
  }

  const ownMigrations = name !== '' && scope.migrations !== undefined
  const migrations = ownMigrations ? scope.migrations : rawConfig.migrations ?? []
  const { sqlite, keyValue } = migratedClasses(migrations)
  const keyValued = required.filter((r) => keyValue.has(r.className))
  for (const r of keyValued) {
    problems.push(
      `${file} ${label}: ${r.className} was created by a migration's new_classes (key-value storage); ${needs} it with SQLite storage, and a class can't change its storage. ` +
        `Delete it in a migration (deleted_classes = ["${r.className}"]; its stored counters are lost) and create it again in new_sqlite_classes.`,
    )
  }
  const unmigrated = required.filter((r) => !sqlite.has(r.className) && !keyValue.has(r.className))
  if (unmigrated.length > 0) {
    const tags = new Set(migrations.map((m) => m.tag))
    let tag = `edgeway-${version}`
    for (let i = 2; tags.has(tag); i++) tag = `edgeway-${version}-${i}`
    const where = ownMigrations ? `${prefix}migrations` : 'migrations'
    const toml = `[[${where}]]\ntag = "${tag}"\nnew_sqlite_classes = ${quoteList(unmigrated.map((r) => r.className))}`
    const migrationsLabel = ownMigrations ? label : 'the top level'
    problems.push(`${file} ${migrationsLabel}: no SQLite migration creates ${unmigrated.map((r) => r.className).join(', ')}, which ${needs}. Add after the last [[${where}]]:\n\n${toml}\n`)
  }

  const main = scope.main ?? rawConfig.main
  const mainFile = main && resolve(dirname(tomlPath), main)
  const unexported = exportsClasses(mainFile, required.map((r) => r.className))
  if (unexported.length > 0) {
    problems.push(`${relative(process.cwd(), mainFile)} (a Worker entry in ${file}) does not export ${unexported.join(', ')}, which ${needs}. Add:\n\nexport * from 'edgeway/durable-objects'\n`)
  }
  return problems
}
