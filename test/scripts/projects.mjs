// What a throwaway project in these tests needs for `check:config` (and so `deploy`) to pass the
// Durable Object check: every class this version of Edgeway has, bound in each environment and
// created by a SQLite migration (scripts/durable-objects-check.mjs), and an entry that exports them.
import { requirements } from '../../scripts/lib.mjs'

const { durableObjects } = await requirements()

/** TOML for the end of a wrangler.toml: the bindings at the top level and in each of `environments`, and one migration. */
export function durableObjectsToml(...environments) {
  const bindings = (prefix) => durableObjects.map((d) => `[[${prefix}durable_objects.bindings]]\nname = "${d.binding}"\nclass_name = "${d.className}"\n`).join('\n')
  const migration = `[[migrations]]\ntag = "v1"\nnew_sqlite_classes = [${durableObjects.map((d) => `"${d.className}"`).join(', ')}]\n`
  return [bindings(''), migration, ...environments.map((env) => bindings(`env.${env}.`))].join('\n')
}

/** A Worker entry bundling `configPath`, exporting the Durable Object classes. */
export const entry = (configPath) => `import config from '${configPath}'\nexport * from 'edgeway/durable-objects'\n`
