// What the gateway in this checkout can do: its policy types, action types and config validator,
// loaded in Node from src/ (bundled on the fly; `cloudflare:*` imports get an empty stand-in, since
// only the config side is used here). A scenario whose feature is missing is skipped, not failed.
import { build } from 'esbuild'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { cloudflareStub } from '../../scripts/lib.mjs'
import { ROOT } from './workerd.mjs'

export async function loadFeatures(workDir) {
  const contents = [
    "export { parseConfig } from './src/config/parse'",
    "export { POLICY_DEFINITIONS } from './src/config/policies'",
    "export { ActionSchema } from './src/config/schema'",
  ].join('\n')
  mkdirSync(workDir, { recursive: true })
  const outfile = join(workDir, `features-${process.pid}.mjs`)
  await build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts' },
    bundle: true, format: 'esm', platform: 'neutral', mainFields: ['module', 'main'], outfile, logLevel: 'error', plugins: [cloudflareStub],
    define: { SCHEMA_DOCS: 'false' },
  })
  try {
    const mod = await import(pathToFileURL(outfile).href)
    const actions = new Set((mod.ActionSchema.options ?? []).map((o) => o.entries?.type?.literal).filter(Boolean))
    return {
      policies: new Set(Object.keys(mod.POLICY_DEFINITIONS)),
      actions,
      parseConfig: mod.parseConfig,
      /** The first requirement (`policy:jwt`, `action:aggregate`) this checkout lacks, if any. */
      missing(requires = []) {
        for (const req of requires) {
          const [kind, name] = req.split(':')
          if (kind === 'policy' && !this.policies.has(name)) return `policy type "${name}"`
          if (kind === 'action' && !this.actions.has(name)) return `action type "${name}"`
        }
        return undefined
      },
    }
  } finally {
    rmSync(outfile, { force: true })
  }
}
