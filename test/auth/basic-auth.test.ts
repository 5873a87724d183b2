/**
 * `basic-auth`: PBKDF2 hashes made independently here, real requests through the gateway, and the
 * attacks: wrong and unknown users (same work either way), malformed and huge headers, guessing
 * bounded per IP and per user name in the real RateLimiter objects, the 60 s cache.
 */
import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BASIC_AUTH_FAILURES } from '../../src/auth/basic-auth'
import type { GatewayConfigInput } from '../../src/config/schema'
import { newTag, ORIGIN, testGateway } from '../support/gateway'
import { manualRuntime } from '../support/runtime'
import { freshIp, used } from '../rate-limit/helpers'

const ITERATIONS = 10_000

/** `pbkdf2-sha256$<iterations>$<salt>$<hash>`, written independently of the gateway's code. */
async function hashOf(password: string, iterations = ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits'])
  const bits = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, 256))
  const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))
  return `pbkdf2-sha256$${iterations}$${b64(salt)}$${b64(bits)}`
}

const basic = (user: string, password: string) => `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)))}`

/** User names of their own: the failure counters live in Durable Objects every test file shares. */
const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`

/** A gateway (one isolate's policy and memory) with these users; `bindings` over the test's, `runtime` to share a clock. */
async function setup(users: { name: string; password: string; consumer: string; iterations?: number }[], bindings: Record<string, unknown> = {}, runtime = manualRuntime()) {
  const credentials = await Promise.all(users.map(async (u) => ({ username: u.name, passwordHash: await hashOf(u.password, u.iterations), consumer: u.consumer })))
  const config: GatewayConfigInput = {
    consumers: { acme: { metadata: { tier: 'gold' } }, globex: {} },
    upstreams: { origin: { url: ORIGIN } },
    routes: [
      { id: 'who', match: { path: '/who' }, policies: [{ type: 'basic-auth', realm: 'partners', credentials }], action: { type: 'respond', body: '{consumer.id} {consumer.metadata.tier}' } },
      { id: 'echo', match: { path: '/echo/*' }, policies: [{ type: 'basic-auth', credentials }], action: { type: 'proxy', upstream: 'origin' } },
    ],
  }
  // The limiter's 1 s timeout (fail-open) is a runtime timer that never fires here.
  const gw = testGateway(config, bindings, { runtime })
  const call = (authorization: string | undefined, ip = freshIp(), path = '/who') =>
    gw.fetch(path, { headers: { 'cf-connecting-ip': ip, 'x-test-tag': newTag(), ...(authorization !== undefined && { authorization }) } })
  return { gw, runtime, call }
}

async function expect401(res: Response, realm = 'partners') {
  expect(res.status).toBe(401)
  expect(res.headers.get('www-authenticate')).toBe(`Basic realm="${realm}", charset="UTF-8"`)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  return (await res.json()) as { code: string; detail: string }
}

afterEach(() => vi.restoreAllMocks())

describe('basic-auth', () => {
  it('lets the right user name and password through as its consumer, and hides the header from the origin', async () => {
    const alice = unique('alice')
    const { call } = await setup([{ name: alice, password: 'correct horse', consumer: 'acme' }])
    const res = await call(basic(alice, 'correct horse'))
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('acme gold')
    const echoed = await call(basic(alice, 'correct horse'), freshIp(), '/echo/x')
    expect(echoed.status).toBe(200)
    expect(((await echoed.json()) as { headers: Record<string, string> }).headers.authorization).toBeUndefined()
  })

  it('passwords and user names are UTF-8, and a password may contain ":"', async () => {
    const name = unique('jürgen')
    const { call } = await setup([{ name, password: 'pä:ss wörd', consumer: 'globex' }])
    expect((await call(basic(name, 'pä:ss wörd'))).status).toBe(200)
    expect((await call(basic(name, 'pä:ss'))).status).toBe(401)
  })

  it('answers 401 with the challenge for a missing, foreign, malformed, oversized or wrong credential, and logs why', async () => {
    const bob = unique('bob')
    const { gw, call } = await setup([{ name: bob, password: 's3cret', consumer: 'acme' }])
    const cases: [string | undefined, string | undefined][] = [
      [undefined, undefined],
      ['Bearer abc', undefined],
      ['Basic', 'ERR_BASIC_AUTH_MALFORMED'],
      ['Basic !!!!', 'ERR_BASIC_AUTH_MALFORMED'],
      [`Basic ${btoa('no-colon-here')}`, 'ERR_BASIC_AUTH_MALFORMED'],
      [`Basic ${btoa(':only-a-password')}`, 'ERR_BASIC_AUTH_MALFORMED'],
      [`Basic ${btoa('\xff\xfe:x')}`, 'ERR_BASIC_AUTH_MALFORMED'],
      [`Basic ${btoa(`${bob}:s3cret`).slice(0, -1)}`, 'ERR_BASIC_AUTH_MALFORMED'],
      [`Basic ${'A'.repeat(20_000)}`, 'ERR_BASIC_AUTH_TOO_LARGE'],
      [basic(bob, 'S3cret'), 'ERR_BASIC_AUTH_WRONG_PASSWORD'],
      [basic(bob, ''), 'ERR_BASIC_AUTH_WRONG_PASSWORD'],
      [basic(unique('mallory'), 's3cret'), 'ERR_BASIC_AUTH_UNKNOWN_USER'],
    ]
    for (const [authorization, code] of cases) {
      const body = await expect401(await call(authorization))
      expect(body.code, authorization?.slice(0, 40)).toBe('ERR_UNAUTHORIZED')
      // The client is not told which part was wrong.
      expect(body.detail).toBe(code ? 'The user name or password is wrong.' : 'A user name and password are required.')
      expect(gw.logs.at(-1)?.auth, authorization?.slice(0, 40)).toEqual({ via: 'basic-auth', outcome: code ? 'invalid' : 'missing', ...(code && { code }) })
      expect(JSON.stringify(gw.logs.at(-1))).not.toContain('s3cret')
    }
    expect((await call(basic(bob, 's3cret'))).status).toBe(200)
  })

  it('does the same PBKDF2 work for an unknown user name as for a known one (the slowest hash configured)', async () => {
    const [fast, slow] = [unique('fast'), unique('slow')]
    const { call } = await setup([
      { name: fast, password: 'a', consumer: 'acme' },
      { name: slow, password: 'b', consumer: 'globex', iterations: 20_000 },
    ])
    const derive = vi.spyOn(crypto.subtle, 'deriveBits')
    const iterationsOf = () => derive.mock.calls.map(([params]) => (params as { iterations: number }).iterations)
    await expect401(await call(basic(slow, 'wrong')))
    await expect401(await call(basic(unique('nobody'), 'wrong')))
    expect(iterationsOf()).toEqual([20_000, 20_000])
  })

  it('remembers a verified credential for 60 s only, never a wrong one', async () => {
    const carol = unique('carol')
    const { runtime, call } = await setup([{ name: carol, password: 'pw-carol', consumer: 'acme' }])
    const derive = vi.spyOn(crypto.subtle, 'deriveBits')
    expect((await call(basic(carol, 'pw-carol'))).status).toBe(200)
    expect((await call(basic(carol, 'pw-carol'))).status).toBe(200)
    expect(derive).toHaveBeenCalledTimes(1)
    await expect401(await call(basic(carol, 'pw-wrong')))
    await expect401(await call(basic(carol, 'pw-wrong')))
    expect(derive).toHaveBeenCalledTimes(3)
    await runtime.advance(60_000)
    expect((await call(basic(carol, 'pw-carol'))).status).toBe(200)
    expect(derive).toHaveBeenCalledTimes(4)
  })

  it('blocks an address after 10 wrong passwords: 429 even for the right one; other addresses still log in', async () => {
    const dave = unique('dave')
    const { call } = await setup([{ name: dave, password: 'pw-dave', consumer: 'acme' }])
    const ip = freshIp()
    // Spread over user names, so only the address's counter fills (password spraying).
    for (let i = 0; i < BASIC_AUTH_FAILURES.max; i++) await expect401(await call(basic(unique('guess'), `guess-${i}`), ip))
    expect(await used(`ip=${ip}`, BASIC_AUTH_FAILURES.id)).toBe(10)
    const blocked = await call(basic(dave, 'pw-dave'), ip)
    expect(blocked.status).toBe(429)
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await blocked.json()).toMatchObject({ code: 'ERR_RATE_LIMITED', limit: 'basic-auth-failures' })
    expect((await call(basic(dave, 'pw-dave'))).status).toBe(200)
  })

  it('blocks a user name after 10 wrong passwords from any addresses: 429 for it from a new address too, the right password included', async () => {
    const [erin, frank] = [unique('erin'), unique('frank')]
    const { call } = await setup([
      { name: erin, password: 'pw-erin', consumer: 'acme' },
      { name: frank, password: 'pw-frank', consumer: 'globex' },
    ])
    for (let i = 0; i < BASIC_AUTH_FAILURES.max; i++) await expect401(await call(basic(erin, `guess-${i}`)))
    expect(await used(`basic-user=${encodeURIComponent(erin)}`, BASIC_AUTH_FAILURES.id)).toBe(10)
    const blocked = await call(basic(erin, 'pw-erin'))
    expect(blocked.status).toBe(429)
    expect(await blocked.json()).toMatchObject({ detail: expect.stringMatching(/^Too many wrong passwords for this user or from this address; retry in \d+ s\.$/) })
    // The cache can't bypass the block: a credential verified before the block is refused too.
    expect((await call(basic(frank, 'pw-frank'))).status).toBe(200)
  })

  it('a credential verified before its user name was blocked is refused once blocked (the cache never bypasses the block)', async () => {
    const gina = unique('gina')
    const { call } = await setup([{ name: gina, password: 'pw-gina', consumer: 'acme' }])
    expect((await call(basic(gina, 'pw-gina'))).status).toBe(200)
    for (let i = 0; i < BASIC_AUTH_FAILURES.max; i++) await expect401(await call(basic(gina, `guess-${i}`)))
    expect((await call(basic(gina, 'pw-gina'))).status).toBe(429)
  })
})

/** The real `RATE_LIMITER` namespace, counting the block checks (`inspect`) made through it. */
function countedLimiter() {
  const ns = env.RATE_LIMITER as unknown as DurableObjectNamespace
  const counted = { inspects: 0 }
  const binding = {
    idFromName: (name: string) => ns.idFromName(name),
    get: (id: DurableObjectId) =>
      new Proxy(ns.get(id), {
        get: (stub, method) => (method === 'inspect' ? () => (counted.inspects++, (stub as unknown as { inspect(): Promise<unknown> }).inspect()) : Reflect.get(stub, method)),
      }),
  }
  return { binding, counted }
}

describe('basic-auth block checks, remembered per address and user name', () => {
  it('asks the two failure counters once every 5 s for a user at an address, not on every request', async () => {
    const ivan = unique('ivan')
    const { binding, counted } = countedLimiter()
    const { call, runtime } = await setup([{ name: ivan, password: 'pw-ivan', consumer: 'acme' }], { RATE_LIMITER: binding })
    const ip = freshIp()
    for (let i = 0; i < 3; i++) expect((await call(basic(ivan, 'pw-ivan'), ip)).status).toBe(200)
    expect(counted.inspects).toBe(2)
    // Another address is another pair: asked for.
    expect((await call(basic(ivan, 'pw-ivan'))).status).toBe(200)
    expect(counted.inspects).toBe(4)
    await runtime.advance(5_000)
    expect((await call(basic(ivan, 'pw-ivan'), ip)).status).toBe(200)
    expect(counted.inspects).toBe(6)
  })

  /** A user let in from one address by this isolate, then blocked by guesses in another isolate (the same clock). */
  async function blockedElsewhereAfterLogin(name: string) {
    const user = unique(name)
    const password = `pw-${name}`
    const runtime = manualRuntime()
    const here = await setup([{ name: user, password, consumer: 'acme' }], {}, runtime)
    const elsewhere = await setup([{ name: user, password, consumer: 'acme' }], {}, runtime)
    const ip = freshIp()
    expect((await here.call(basic(user, password), ip)).status).toBe(200)
    // Guessed elsewhere from many addresses: the user name's counter fills.
    for (let i = 0; i < BASIC_AUTH_FAILURES.max; i++) await expect401(await elsewhere.call(basic(user, `guess-${i}`)))
    return { here, runtime, ip, right: basic(user, password), wrong: basic(user, 'wrong') }
  }

  it('a block made in another isolate reaches this one within 5 s, and at once for another address', async () => {
    const { here, runtime, ip, right } = await blockedElsewhereAfterLogin('hana')
    // This isolate found this user at this address clear less than 5 s ago.
    expect((await here.call(right, ip)).status).toBe(200)
    expect((await here.call(right)).status).toBe(429)
    await runtime.advance(5_000)
    expect((await here.call(right, ip)).status).toBe(429)
  })

  it('a wrong password for the user reaching this isolate ends what it remembered at once', async () => {
    const { here, ip, right, wrong } = await blockedElsewhereAfterLogin('jo')
    // A guess from another address, here: counted, refused, and this user's pairs forgotten.
    expect((await here.call(wrong)).status).toBe(429)
    expect((await here.call(right, ip)).status).toBe(429)
  })
})
