// `npm run build`: bundles the demo Worker offline and prints its size, with no wrangler warning
// (a config with environments, deployed without `--env`, made wrangler warn on every build).
//
// Run: npm run test:scripts (or node --test test/scripts/build.test.mjs)
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import { OFFLINE_ENV } from '../../scripts/lib.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))

describe('build', () => {
  it('prints the bundle size and no warning', () => {
    const { status, stdout, stderr } = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, encoding: 'utf8', env: { ...process.env, ...OFFLINE_ENV, NO_COLOR: '1' } })
    assert.equal(status, 0, stderr)
    assert.match(stdout, /^upload: worker [\d.]+ KiB raw, [\d.]+ KiB gzip \(cap 250 KiB\)/m)
    assert.doesNotMatch(stdout + stderr, /WARNING|warn/i)
  })
})
