// `npm run reload` (the config record's one writer) and the record check of `npm run deploy`, on a
// throwaway project, against wrangler's local KV in a temp directory (`--local --persist-to`):
// no Cloudflare login, nothing deployed (every deploy here is refused before wrangler deploys).
//
// Run: npm run test:scripts (or node --test test/scripts/reload.test.mjs)
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { OFFLINE_ENV } from '../../scripts/lib.mjs'
import { durableObjectsToml, entry } from './projects.mjs'

const script = (name) => fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url))
const WRANGLER = fileURLToPath(new URL('../../node_modules/wrangler/bin/wrangler.js', import.meta.url))
let dir
let state

const WRANGLER_TOML = `
name = "t"
main = "src/index.ts"
compatibility_date = "2026-04-20"
[vars]
API_ORIGIN = "http://127.0.0.1:9"
[[kv_namespaces]]
binding = "CONFIG_KV"
id = "config-kv-top"

[env.staging]
main = "src/entries/staging.ts"
vars = { API_ORIGIN = "http://127.0.0.1:9" }
[[env.staging.kv_namespaces]]
binding = "CONFIG_KV"
id = "config-kv-staging"

${durableObjectsToml('staging')}`
const route = (id) => ({ id, match: { path: `/${id}` }, action: { type: 'proxy', upstream: 'api' } })
const config = (routes, extra = {}) => JSON.stringify({ ...extra, upstreams: { api: { url: '${API_ORIGIN}' } }, routes })
const reloadOn = { gateway: { reload: { refreshSeconds: 30 } } }

function run(name, args) {
  const { status, stdout, stderr } = spawnSync(process.execPath, [script(name), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...OFFLINE_ENV, CLOUDFLARE_ENV: '' },
  })
  return { status, out: stdout + stderr }
}
const local = () => ['--local', '--persist-to', state]
function kv(args) {
  const { status, stdout, stderr } = spawnSync(process.execPath, [WRANGLER, 'kv', 'key', ...args, '--binding', 'CONFIG_KV', ...local()], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...OFFLINE_ENV },
  })
  assert.equal(status, 0, stderr)
  return stdout
}
const storedHeader = () => JSON.parse(kv(['get', 'gateway.json', '--text']).split('\n')[0])

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeway-reload-'))
  state = join(dir, '.state')
  mkdirSync(join(dir, 'src/entries'), { recursive: true })
  mkdirSync(join(dir, 'config'))
  writeFileSync(join(dir, 'wrangler.toml'), WRANGLER_TOML)
  writeFileSync(join(dir, 'src/index.ts'), entry('../config/demo.json'))
  writeFileSync(join(dir, 'src/entries/staging.ts'), entry('../../config/staging.json'))
  writeFileSync(join(dir, 'config/demo.json'), config([route('bundled')], reloadOn))
  writeFileSync(join(dir, 'config/staging.json'), config([route('bundled')], reloadOn))
  writeFileSync(join(dir, 'config/good.json'), config([route('a'), route('b')]))
  writeFileSync(join(dir, 'config/bad.json'), config([{ ...route('a'), action: { type: 'proxy', upstream: 'users' } }]))
})
after(() => rmSync(dir, { recursive: true, force: true }))

describe('npm run reload', () => {
  it('refuses an invalid config and writes nothing', () => {
    const { status, out } = run('reload.mjs', ['config/bad.json', ...local()])
    assert.equal(status, 1)
    assert.match(out, /- routes\[0\]\.action\.upstream: unknown upstream "users" \(known: api\)/)
    assert.match(out, /reload refused: nothing written/)
    assert.match(kv(['get', 'gateway.json', '--text']), /Value not found/)
  })

  it('writes a valid config as the next version, then a deletion record as the one after', () => {
    let { status, out } = run('reload.mjs', ['config/good.json', ...local()])
    assert.equal(status, 0, out)
    assert.match(out, /wrote version 1 to CONFIG_KV "gateway.json" \(the top level, local\): 2 routes/)
    ;({ status, out } = run('reload.mjs', ['config/good.json', ...local()]))
    assert.equal(status, 0, out)
    assert.match(out, /wrote version 2 /)
    assert.deepEqual({ ...storedHeader(), writtenAt: 'x' }, { edgeway: 'config-record', version: 2, writtenAt: 'x', routes: 2 })
    ;({ status, out } = run('reload.mjs', ['--delete', ...local()]))
    assert.equal(status, 0, out)
    assert.match(out, /deleted: wrote deletion record version 3 .* then run their bundled config/)
    assert.equal(storedHeader().deleted, true)
  })
})

describe('npm run deploy checks the stored record with the new code', () => {
  it('refuses when this code would refuse the stored record', () => {
    const record = [JSON.stringify({ edgeway: 'config-record', version: 9, writtenAt: 'then', routes: 1 }), config([]).replace('"routes":[]', '"x":1'), JSON.stringify([route('a')])].join('\n')
    writeFileSync(join(dir, 'record.txt'), record)
    kv(['put', 'gateway.json', '--path', 'record.txt'])
    const { status, out } = run('deploy.mjs', ['--record-local', '--record-persist-to', state, '--dry-run'])
    assert.equal(status, 1)
    assert.match(out, /CONFIG_KV "gateway.json" \(the top level\): this code would refuse the stored config record \(version 9\):\n {2}- x: unknown key/)
    assert.match(out, /deploy refused/)
  })

  it('refuses when there is no record and new isolates would answer 503', () => {
    const { status, out } = run('deploy.mjs', ['--env', 'staging', '--record-local', '--record-persist-to', state, '--dry-run'])
    assert.equal(status, 1)
    assert.match(out, /CONFIG_KV "gateway.json" \(\[env\.staging\]\): no config record, so every new isolate would answer 503 ERR_CONFIG_UNAVAILABLE/)
  })
})
