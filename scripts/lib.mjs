// Shared by the project's scripts and the `edgeway` CLI: the env that keeps wrangler offline and
// quiet, and the gateway's config code in Node — bundled on the fly from src/ in a source checkout,
// or the package's prebuilt dist/node/tools.js where the package is installed (no src/ there).
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

/** The edgeway package's own folder: this repository, or node_modules/edgeway in a user's project. */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url))
/** A source checkout (this repository) runs src/ itself; an installed package runs its dist/. */
export const FROM_SOURCE = existsSync(join(PACKAGE_ROOT, 'src/config/parse.ts'))
export const PACKAGE = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8'))
const require = createRequire(join(process.cwd(), 'package.json'))
const packageRequire = createRequire(join(PACKAGE_ROOT, 'package.json'))

/** The project's wrangler CLI (the user's own, else the one beside this package). */
export function wranglerBin() {
  let manifest
  try {
    manifest = require.resolve('wrangler/package.json')
  } catch {
    manifest = packageRequire.resolve('wrangler/package.json')
  }
  return join(dirname(manifest), 'bin/wrangler.js')
}

/** `cloudflare:*` imports in Node: empty stand-ins, since only the config side runs there. */
export const cloudflareStub = {
  name: 'cloudflare-stub',
  setup(b) {
    b.onResolve({ filter: /^cloudflare:/ }, (args) => ({ path: args.path, namespace: 'cf-stub' }))
    b.onLoad({ filter: /.*/, namespace: 'cf-stub' }, () => ({
      contents: 'export class DurableObject {}; export class WorkerEntrypoint {}; export class RpcTarget {}; export const env = {};',
      loader: 'js',
    }))
  },
}

export const OFFLINE_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
}

/** Imports a TypeScript module of src/ in Node. */
export async function importTs(entry) {
  const { build } = await import('esbuild')
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-'))
  const outfile = join(dir, 'module.mjs')
  try {
    await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'neutral', mainFields: ['module', 'main'], outfile, logLevel: 'error', define: { SCHEMA_DOCS: 'true' }, plugins: [cloudflareStub] })
    return await import(pathToFileURL(outfile).href)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Ports this process was handed already: the system may give a port just closed out again. */
const handedOut = new Set()

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (for test and bench servers), never one this
 * process was handed before: `[await freePort(), await freePort()]` had once given the same port
 * twice, and the second server could not listen. A server that can listen on port 0 itself should.
 */
export async function freePort() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const server = createServer()
      server.unref()
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address()
        server.close(() => resolve(port))
      })
    })
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('no port this process had not used already in 20 tries')
}

const TOOLS = FROM_SOURCE ? join(PACKAGE_ROOT, 'scripts/package/node-tools.ts') : join(PACKAGE_ROOT, 'dist/node/tools.js')

/**
 * The CLI's tools (scripts/package/node-tools.ts: the public API, parseConfig, checkEnvironment,
 * the record format, the schema generators, the OpenAPI importer). With `extensions` (a project's
 * module exporting `policies` and `actions`, e.g. src/extensions.ts), that module is bundled with
 * them, its `edgeway` imports pointing at the same copy, and comes back as `tools.extensions`.
 */
export async function loadTools({ extensions } = {}) {
  if (!extensions) return FROM_SOURCE ? importTs(TOOLS) : import(pathToFileURL(TOOLS).href)
  // Loaded here, not at the top: `edgeway init` runs before the project has its dependencies.
  const { build } = await import('esbuild')
  const file = resolve(extensions)
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-'))
  const outfile = join(dir, 'tools.mjs')
  const sameEdgeway = {
    name: 'edgeway-itself',
    setup(b) {
      b.onResolve({ filter: /^edgeway$/ }, () => ({ path: TOOLS }))
    },
  }
  try {
    await build({
      stdin: { contents: `export * from ${JSON.stringify(TOOLS)}\nexport * as extensions from ${JSON.stringify(file)}\n`, resolveDir: dirname(file), loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile,
      logLevel: 'error',
      define: { SCHEMA_DOCS: 'true' },
      plugins: [sameEdgeway, cloudflareStub],
    })
    return await import(pathToFileURL(outfile).href)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The JSON Schema with the package's version in it: `$id`, `title` and `x-edgeway-version`. */
export function versionedSchema(schema, version) {
  const { $id, title, ...rest } = schema
  return {
    $id: `https://github.com/edgeway/edgeway/blob/v${version}/edgeway.schema.json`,
    title: `${title ?? 'Edgeway gateway config'} (edgeway ${version})`,
    'x-edgeway-version': version,
    ...rest,
  }
}

/**
 * What a wrangler.toml gives Edgeway at its top level: compatibility date and flags, and the
 * Durable Objects in migration order (`[{ className, binding, tag }]`). Run on this repository's
 * wrangler.toml it is what this version of Edgeway needs (dist/requirements.json in the package):
 * `edgeway init` writes it, `edgeway check` compares a project with it.
 */
export async function requirementsOf(tomlPath) {
  const { experimental_readRawConfig } = await import('wrangler')
  const { rawConfig } = experimental_readRawConfig({ config: tomlPath })
  const bindings = rawConfig.durable_objects?.bindings ?? []
  const durableObjects = []
  for (const migration of rawConfig.migrations ?? []) {
    for (const className of migration.new_sqlite_classes ?? []) {
      const binding = bindings.find((b) => b.class_name === className)?.name
      durableObjects.push({ className, binding, tag: migration.tag })
    }
  }
  return { compatibilityDate: rawConfig.compatibility_date, compatibilityFlags: rawConfig.compatibility_flags ?? [], durableObjects }
}

/** What this version needs: from dist/ in the package, from this repository's wrangler.toml in a checkout. */
export async function requirements() {
  if (FROM_SOURCE) return requirementsOf(join(PACKAGE_ROOT, 'wrangler.toml'))
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, 'dist/requirements.json'), 'utf8'))
}

/** A command's arguments (node:util parseArgs) with exactly `positionals` of them; else the usage, exit 2. */
export function commandArgs(options, usage, positionals = 1) {
  let args
  try {
    args = parseArgs({ allowPositionals: true, options })
  } catch (err) {
    console.error(`${err.message}\n${usage}`)
    process.exit(2)
  }
  if (args.positionals.length !== positionals) {
    console.error(usage)
    process.exit(2)
  }
  return args
}
