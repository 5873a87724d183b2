// Shared by check-config, reload and deploy: the gateway's own validation code (src/config/, run
// in Node), a wrangler environment as the config checks see it, and the config record in KV.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { loadTools, OFFLINE_ENV, wranglerBin } from './lib.mjs'

/** Where a project keeps its custom policies and actions (`export const policies = {...}`, `actions`). */
export const EXTENSIONS_FILE = 'src/extensions.ts'

/** The project's extensions module, if it has one (`--extensions` names another). */
export function extensionsFile(given) {
  if (given) return resolve(given)
  const file = resolve(EXTENSIONS_FILE)
  return existsSync(file) ? file : undefined
}

/**
 * parseConfig, checkEnvironment, the record format and the schema generators; with the project's
 * custom policies and actions (`tools.extensions`) when it has an extensions module.
 */
export async function configTools(extensions = extensionsFile()) {
  return loadTools({ extensions })
}

/** Secret names (`NAME=...` lines) of .dev.vars.example beside wrangler.toml. */
function secretNames(root) {
  const file = resolve(root, '.dev.vars.example')
  if (!existsSync(file)) return new Set()
  return new Set([...readFileSync(file, 'utf8').matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]))
}

let wrangler
/** One environment as wrangler resolves it (environments inherit neither vars nor bindings), and the config file its entry bundles. */
export async function environment(tomlPath, name) {
  wrangler ??= await import('wrangler')
  const root = dirname(tomlPath)
  const c = wrangler.unstable_readConfig({ config: tomlPath, env: name || undefined }, { hideWarnings: true })
  const env = {
    label: name ? `[env.${name}]` : 'the top level',
    vars: c.vars ?? {},
    secrets: secretNames(root),
    services: new Set((c.services ?? []).map((s) => s.binding)),
    durableObjects: new Set((c.durable_objects?.bindings ?? []).map((b) => b.name)),
    mtlsCertificates: new Set((c.mtls_certificates ?? []).map((m) => m.binding)),
    kvNamespaces: new Set((c.kv_namespaces ?? []).map((k) => k.binding)),
  }
  // The config file its entry bundles: `import config from '../config/x.json'`.
  const main = c.main && resolve(root, c.main)
  const m = main && existsSync(main) && readFileSync(main, 'utf8').match(/import \w+ from '([^']+\.json)'/)
  return { env, file: m ? resolve(dirname(main), m[1]) : undefined }
}

export async function environmentNames(tomlPath) {
  wrangler ??= await import('wrangler')
  const { rawConfig } = wrangler.experimental_readRawConfig({ config: tomlPath })
  return ['', ...Object.keys(rawConfig.env ?? {})]
}

/** Problems of a config (parsed JSON) against an environment, as `path: reason`; `pending` when structure stopped the checks. */
export function configProblems(tools, input, env) {
  const result = tools.parseConfig(input, tools.extensions)
  if (!result.ok) return { problems: result.problems, pending: result.pending }
  return { problems: tools.checkEnvironment(result.config, env), config: result.config, notices: result.notices }
}

/**
 * Where the record lives: `store.local` (wrangler's local KV, the one `wrangler dev` reads;
 * `store.persistTo` its directory) or the deployed namespace. Runs `wrangler kv key ...`.
 */
function kvCommand(store, args, options = {}) {
  const where = store.local ? ['--local', ...(store.persistTo ? ['--persist-to', store.persistTo] : [])] : ['--remote']
  const envArgs = store.env ? ['--env', store.env] : []
  const out = spawnSync(process.execPath, [wranglerBin(), 'kv', 'key', ...args, '--binding', store.binding, '--config', store.config, ...envArgs, ...where], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...OFFLINE_ENV, ...process.env },
    ...options,
  })
  if (out.status !== 0) throw new Error(`wrangler kv key ${args[0]} failed:\n${out.stderr || out.stdout}`)
  return out.stdout
}

/** The stored record's text, or null when the key holds nothing. */
export function readStored(store) {
  const out = kvCommand(store, ['get', store.key, '--text'])
  if (out.trim() === 'Value not found') return null
  // wrangler ends what it prints with a newline; a record never ends with one.
  return out.endsWith('\n') ? out.slice(0, -1) : out
}

export function writeStored(store, text) {
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-record-'))
  try {
    const file = join(dir, 'record')
    writeFileSync(file, text)
    kvCommand(store, ['put', store.key, '--path', file])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * What an isolate with this code would do with a stored record: `{ ok, header, problems }`. A
 * deletion record is ok (the bundled config runs, checked on its own).
 */
export function checkRecord(tools, text, env) {
  const read = tools.readRecordText(text)
  if (read.problem !== undefined) return { ok: false, header: read.header, problems: [read.problem] }
  if (read.header.deleted) return { ok: true, header: read.header, problems: [] }
  const { problems } = configProblems(tools, read.config, env)
  return { ok: problems.length === 0, header: read.header, problems }
}
