// `npm run hash:password`: the hash it prints verifies the password with PBKDF2-SHA256 (checked
// here with Node's Web Crypto), and it refuses iterations Cloudflare would refuse.
//
// Run: npm run test:scripts (or node --test test/scripts/)
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { webcrypto as crypto } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'

const script = fileURLToPath(new URL('../../scripts/hash-password.mjs', import.meta.url))
const run = (input, ...args) => spawnSync(process.execPath, [script, ...args], { input, encoding: 'utf8' })

describe('hash:password', () => {
  it('prints pbkdf2-sha256$<iterations>$<salt>$<hash> for the password on stdin', async () => {
    const { status, stdout } = run('pä:ss wörd\n', '--iterations', '10000')
    assert.equal(status, 0)
    const [scheme, iterations, salt, hash] = stdout.trim().split('$')
    assert.equal(scheme, 'pbkdf2-sha256')
    assert.equal(iterations, '10000')
    assert.equal(Buffer.from(salt, 'base64').length, 16)
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('pä:ss wörd'), 'PBKDF2', false, ['deriveBits'])
    const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: Buffer.from(salt, 'base64'), iterations: 10000 }, key, 256)
    assert.equal(Buffer.from(bits).toString('base64'), hash)
    assert.equal(run('x').stdout.split('$')[1], '100000')
  })

  it('refuses more than 100,000 iterations and an empty password', () => {
    const tooMany = run('x', '--iterations', '100001')
    assert.equal(tooMany.status, 2)
    assert.match(tooMany.stderr, /--iterations must be a whole number from 10000 to 100000/)
    assert.equal(run('').status, 2)
  })
})
