// What `npm run build` and `npm run deploy` hand wrangler (preparedEntry in scripts/config-tools.mjs):
// an entry whose config was validated and defaulted at build time, on a throwaway project in a temp
// directory; a config that does not validate is refused there with its problems.
//
// Run: npm run test:scripts (or node --test test/scripts/)
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { preparedEntry } from '../../scripts/config-tools.mjs'

let dir

const WRANGLER_TOML = `
name = "t"
main = "src/index.ts"
compatibility_date = "2026-04-20"

[env.broken]
main = "src/entries/broken.ts"
`
const SOURCE = { upstreams: { api: { url: 'http://127.0.0.1:9' } }, routes: [{ id: 'api', match: { path: '/api/*' }, action: { type: 'proxy', upstream: 'api' } }] }

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeway-prepared-'))
  mkdirSync(join(dir, 'src/entries'), { recursive: true })
  mkdirSync(join(dir, 'config'))
  writeFileSync(join(dir, 'wrangler.toml'), WRANGLER_TOML)
  writeFileSync(join(dir, 'src/index.ts'), "import config from '../config/demo.json'\n")
  writeFileSync(join(dir, 'src/entries/broken.ts'), "import config from '../../config/broken.json'\n")
  writeFileSync(join(dir, 'config/demo.json'), JSON.stringify(SOURCE))
  writeFileSync(join(dir, 'config/broken.json'), JSON.stringify({ ...SOURCE, routes: [{ ...SOURCE.routes[0], action: { type: 'proxy', upstream: 'users' } }] }))
})

after(() => rmSync(dir, { recursive: true, force: true }))

describe('preparedEntry', () => {
  it('writes an entry that bundles the config validated, with its defaults and the version of its text', async () => {
    const entry = await preparedEntry(join(dir, 'wrangler.toml'), '')
    assert.equal(entry, join(dir, '.edgeway/top-level/entry.ts'))
    assert.match(readFileSync(entry, 'utf8'), /import prepared from '\.\/config\.json'[^]*export default createWorker\(prepared\)/)
    const prepared = JSON.parse(readFileSync(join(dir, '.edgeway/top-level/config.json'), 'utf8'))
    assert.equal(prepared.kind, 'edgeway-prepared-config')
    assert.match(prepared.version, /^[0-9a-f]{16}$/)
    assert.deepEqual(prepared.source, SOURCE)
    // Defaults filled in: the global request-id policy and the upstream's timeouts.
    assert.equal(prepared.config.policies[0].type, 'request-id')
    assert.equal(prepared.config.upstreams.api.timeouts.headers, 15_000)
  })

  it('refuses a config that does not validate, naming the field', async () => {
    await assert.rejects(preparedEntry(join(dir, 'wrangler.toml'), 'broken'), /routes\[0\]\.action\.upstream: unknown upstream "users"/)
  })
})
