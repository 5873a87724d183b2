// `npm run build:package` (and `prepack`): builds what the published `edgeway` package holds into
// dist/. Why a build and not the TypeScript sources: a user's bundler (wrangler, the vitest pool)
// then needs nothing of ours — no `SCHEMA_DOCS` define, no tsconfig of ours, no TypeScript in
// node_modules — and the schema's description strings are folded away here, once.
//
//   dist/lib.js, dist/durable-objects.js, dist/testing/workerd.js   workerd side: ES modules, shared
//       chunks (one GatewayError class for the gateway and the test kit), dependencies left as imports
//       so the user's bundler resolves and dedupes them
//   dist/testing/global-setup.js   the test kit's Node side (a vitest globalSetup)
//   dist/node/tools.js             what the CLI runs in Node (config checks, schema generator), descriptions kept
//   dist/types/                    declarations of the workerd side (tsc), what `types` in package.json points at
//   dist/edgeway.schema.json       the config's JSON Schema, carrying the package's version
//   dist/requirements.json         compatibility date, flags and Durable Objects this version needs (from
//                                  wrangler.toml), for `edgeway init` and `edgeway check`
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { build } from 'esbuild'
import { cloudflareStub, PACKAGE_ROOT, requirementsOf, versionedSchema } from '../lib.mjs'

process.chdir(PACKAGE_ROOT)
const started = Date.now()
const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
// dist/worker/ is `npm run build`'s wrangler bundle, not part of the package.
mkdirSync('dist', { recursive: true })
for (const entry of readdirSync('dist', { withFileTypes: true }).filter((e) => e.name !== 'worker')) rmSync(`dist/${entry.name}`, { recursive: true, force: true })

// testing/provided.ts holds only types: its bare imports are dropped, as `sideEffects: false` says they may be.
const shared = { bundle: true, format: 'esm', target: 'es2022', packages: 'external', logLevel: 'warning', logOverride: { 'ignored-bare-import': 'silent' } }

// The workerd side. minifySyntax folds `SCHEMA_DOCS ? '...' : ''` to '' (names and layout stay readable).
await build({
  ...shared,
  entryPoints: { lib: 'src/lib.ts', 'durable-objects': 'src/gateway/durable-objects.ts', 'testing/workerd': 'src/testing/workerd.ts' },
  outdir: 'dist',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'neutral',
  external: ['cloudflare:*'],
  define: { SCHEMA_DOCS: 'false' },
  minifySyntax: true,
})
// The Node side: the test kit's globalSetup, and the CLI's tools (cloudflare:* stubbed: only config code runs).
await build({ ...shared, entryPoints: { 'testing/global-setup': 'src/testing/global-setup.ts' }, outdir: 'dist', platform: 'node' })
await build({
  ...shared,
  entryPoints: { 'node/tools': 'scripts/package/node-tools.ts' },
  outdir: 'dist',
  platform: 'node',
  define: { SCHEMA_DOCS: 'true' },
  plugins: [cloudflareStub],
})

// Declarations of the workerd side. The Node side has none: a vitest config names its globalSetup
// by a string, and nothing imports it.
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'scripts/package/tsconfig.json'], { stdio: 'inherit' })

const { gatewayJsonSchema } = await import(new URL('../../dist/node/tools.js', import.meta.url).href)
writeFileSync('dist/edgeway.schema.json', JSON.stringify(versionedSchema(gatewayJsonSchema(), pkg.version), null, 2) + '\n')
writeFileSync('dist/requirements.json', JSON.stringify(await requirementsOf('wrangler.toml'), null, 2) + '\n')
console.log(`built edgeway ${pkg.version} into dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`)
