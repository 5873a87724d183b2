// `edgeway check` (scripts/check-config.mjs) after an upgrade that needs a Durable Object the
// project's wrangler.toml doesn't declare yet: it names the class and prints the TOML to add, and
// pasting exactly that TOML makes the check pass. A throwaway project in a temp directory.
//
// Run: npm run test:scripts (or node --test test/scripts/)
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { PACKAGE, requirements } from '../../scripts/lib.mjs'

const CHECK = fileURLToPath(new URL('../../scripts/check-config.mjs', import.meta.url))
const { durableObjects } = await requirements()
// The project was made by an Edgeway that had every class but the newest.
const known = durableObjects.slice(0, -1)
const newest = durableObjects.at(-1)
const binding = (prefix, d) => `[[${prefix}durable_objects.bindings]]\nname = "${d.binding}"\nclass_name = "${d.className}"\n`
const classList = (list) => `[${list.map((d) => `"${d.className}"`).join(', ')}]`

const olderToml = (migrations = `[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ${classList(known)}\n`) => `
name = "t"
main = "src/index.ts"
compatibility_date = "2026-04-20"

${known.map((d) => binding('', d)).join('\n')}
${migrations}
[env.production]
name = "t-production"

${known.map((d) => binding('env.production.', d)).join('\n')}`

let dir
const check = () => {
  const { status, stdout, stderr } = spawnSync(process.execPath, [CHECK], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', CLOUDFLARE_ENV: '' },
  })
  return { status, out: stdout + stderr }
}
/** The TOML blocks the check printed after "Add:", in order. */
const printedToml = (out) => [...out.matchAll(/Add(?: after the last \[\[[^\]]+\]\])?:\n\n((?:.+\n)+)/g)].map((m) => m[1])

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeway-do-check-'))
  mkdirSync(join(dir, 'src'))
  writeFileSync(join(dir, 'src/index.ts'), "import config from '../gateway.json'\nexport * from 'edgeway/durable-objects'\n")
  writeFileSync(join(dir, 'gateway.json'), JSON.stringify({ routes: [{ id: 'hello', match: { path: '/hello' }, action: { type: 'respond' } }] }))
})
after(() => rmSync(dir, { recursive: true, force: true }))

describe('edgeway check: Durable Objects', () => {
  it('names the class this version adds, prints its binding for each environment and one migration; pasting them passes', () => {
    writeFileSync(join(dir, 'wrangler.toml'), olderToml())
    const first = check()
    assert.equal(first.status, 1, first.out)
    assert.match(first.out, new RegExp(`wrangler\\.toml the top level: no Durable Object binding for ${newest.className}, which edgeway ${PACKAGE.version.replaceAll('.', '\\.')} needs`))
    const blocks = printedToml(first.out)
    assert.deepEqual(blocks, [
      binding('', newest),
      `[[migrations]]\ntag = "edgeway-${PACKAGE.version}"\nnew_sqlite_classes = ["${newest.className}"]\n`,
      binding('env.production.', newest),
    ])
    // The migration is said once, though both environments run it (production inherits the top level's).
    assert.equal(first.out.match(/no SQLite migration creates/g).length, 1)

    appendFileSync(join(dir, 'wrangler.toml'), `\n${blocks.join('\n')}`)
    const second = check()
    assert.equal(second.status, 0, second.out)
    assert.doesNotMatch(second.out, /Durable Object/)
  })

  it('a migration tag already taken gets a suffix', () => {
    const taken = `[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ${classList(known)}\n\n[[migrations]]\ntag = "edgeway-${PACKAGE.version}"\n`
    writeFileSync(join(dir, 'wrangler.toml'), olderToml(taken))
    assert.match(check().out, new RegExp(`tag = "edgeway-${PACKAGE.version.replaceAll('.', '\\.')}-2"`))
  })

  it('a class created with key-value storage: says it must be recreated with SQLite, not that it is missing', () => {
    const keyValue = `[[migrations]]\ntag = "v1"\nnew_classes = ${classList(known)}\n`
    writeFileSync(join(dir, 'wrangler.toml'), olderToml(keyValue))
    const { status, out } = check()
    assert.equal(status, 1)
    assert.match(out, new RegExp(`${known[0].className} was created by a migration's new_classes \\(key-value storage\\); edgeway .* needs it with SQLite storage`))
    assert.doesNotMatch(out, new RegExp(`no SQLite migration creates [^\\n]*${known[0].className}`))
  })

  it('an entry that does not export the classes: says which line to add', () => {
    writeFileSync(join(dir, 'wrangler.toml'), olderToml())
    writeFileSync(join(dir, 'src/index.ts'), "import config from '../gateway.json'\nexport { RateLimiter } from 'edgeway'\n")
    try {
      const { out } = check()
      assert.match(out, /src\/index\.ts \(a Worker entry in wrangler\.toml\) does not export (?!RateLimiter)[^\n]*\. Add:\n\nexport \* from 'edgeway\/durable-objects'\n/)
    } finally {
      writeFileSync(join(dir, 'src/index.ts'), "import config from '../gateway.json'\nexport * from 'edgeway/durable-objects'\n")
    }
  })
})
