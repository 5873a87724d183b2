/** `basic-auth` config: each bad hash, user name and consumer named by its exact path; hashes redacted in the admin API. */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { configProblems } from '../support/config'
import { testGateway } from '../support/gateway'

const SALT = btoa('s'.repeat(16))
const HASH = btoa('h'.repeat(32))
const hash = (iterations: number | string, salt = SALT, sum = HASH) => `pbkdf2-sha256$${iterations}$${salt}$${sum}`

function problems(credentials: unknown[], extra: Record<string, unknown> = {}): string[] {
  return configProblems({
    consumers: { acme: {} },
    routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'basic-auth', credentials, ...extra }], action: { type: 'respond' } }],
  })
}

const at = 'routes[0].policies[0]'
const shape = 'must be "pbkdf2-sha256$<iterations>$<salt>$<hash>" (base64 salt and hash; make one with "npm run hash:password")'

describe('basic-auth config', () => {
  it('accepts a sound credential', () => {
    expect(problems([{ username: 'a', passwordHash: hash(100_000), consumer: 'acme' }], { realm: 'partners' })).toEqual([])
  })

  it.each([
    ['more iterations than Cloudflare allows', { passwordHash: hash(600_000) }, `${at}.credentials[0].passwordHash: 600000 iterations is more than Cloudflare's Web Crypto allows (at most 100000)`],
    ['too few iterations', { passwordHash: hash(1000) }, `${at}.credentials[0].passwordHash: 1000 iterations is too few to slow guessing (at least 10000)`],
    ['another scheme', { passwordHash: `bcrypt$10000$${SALT}$${HASH}` }, `${at}.credentials[0].passwordHash: ${shape}`],
    ['a plain password', { passwordHash: 'hunter2' }, `${at}.credentials[0].passwordHash: ${shape}`],
    ['salt not base64', { passwordHash: hash(10_000, 'not base64!') }, `${at}.credentials[0].passwordHash: ${shape}`],
    ['short salt', { passwordHash: hash(10_000, btoa('salt')) }, `${at}.credentials[0].passwordHash: the salt must be at least 16 bytes (found 4)`],
    ['truncated hash', { passwordHash: hash(10_000, SALT, btoa('h'.repeat(31))) }, `${at}.credentials[0].passwordHash: the hash must be 32 bytes (found 31)`],
    ['user name with a colon', { username: 'a:b' }, `${at}.credentials[0].username: cannot contain ":" or control characters (RFC 7617)`],
    ['unknown consumer', { consumer: 'nobody' }, `${at}.credentials[0].consumer: unknown consumer "nobody" (add it under "consumers")`],
  ])('refuses %s', (_, change, expected) => {
    expect(problems([{ username: 'a', passwordHash: hash(10_000), consumer: 'acme', ...change }])).toEqual([expected])
  })

  it('refuses a user name listed twice, no credentials, and a realm that would break the header', () => {
    const one = { username: 'a', passwordHash: hash(10_000), consumer: 'acme' }
    expect(problems([one, one])).toEqual([`${at}.credentials[1].username: "a" is listed twice`])
    expect(problems([])).toEqual([`${at}.credentials: list at least one credential`])
    expect(problems([one], { realm: 'a"b' })).toEqual([`${at}.realm: cannot contain " or \\`])
  })

  it('shows no hash in the admin API\'s /config', async () => {
    const passwordHash = hash(10_000)
    const gw = testGateway({
      consumers: { acme: {} },
      routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'basic-auth', credentials: [{ username: 'a', passwordHash, consumer: 'acme' }] }], action: { type: 'respond' } }],
    })
    const res = await gw.fetch('/_edgeway/config', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    const text = await res.text()
    expect(text).not.toContain(HASH)
    expect((JSON.parse(text) as any).config.routes[0].policies[0].credentials[0]).toEqual({ username: 'a', passwordHash: '[redacted]', consumer: 'acme' })
  })
})
