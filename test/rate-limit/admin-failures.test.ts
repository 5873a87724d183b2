/**
 * Wrong admin tokens, counted per client IP in the real RateLimiter object: the admin API's bearer
 * token, the dashboard login and the dashboard's bearer token share one counter; past the limit the
 * IP gets 429 + Retry-After even with the right token, until the window passes; other IPs, right
 * tokens and requests without a token are not counted; no binding or a broken object never locks
 * the operator out.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { FAILURE_CHECK, FAILURE_WINDOW_MS, MAX_FAILURES } from '../../src/rate-limit/admin-failures'
import { testGateway } from '../support/gateway'
import { manualRuntime } from '../support/runtime'
import { freshIp, inObject, setClock, used } from './helpers'

const TOKEN = env.ADMIN_TOKEN
const config: GatewayConfigInput = { routes: [{ id: 'r', match: { path: '/r' }, action: { type: 'respond', body: { ok: true } } }] }
// The limiter's 1 s timeout (fail-open) is a runtime timer that never fires here: whether a guess
// counts is the object's answer alone, however slow a loaded machine makes it.
const gateway = (extraEnv: Record<string, unknown> = {}) => testGateway(config, extraEnv, { runtime: manualRuntime() })
type Gateway = ReturnType<typeof gateway>

const health = (gw: Gateway, ip: string, token?: string) =>
  gw.fetch('/_edgeway/health', { headers: { 'cf-connecting-ip': ip, ...(token !== undefined && { authorization: `Bearer ${token}` }) } })
const jsonLogin = (gw: Gateway, ip: string, token: string) =>
  gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'cf-connecting-ip': ip, 'content-type': 'application/json' }, body: JSON.stringify({ token }) })
const formLogin = (gw: Gateway, ip: string, token: string) =>
  gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'cf-connecting-ip': ip }, body: new URLSearchParams({ token }), redirect: 'manual' })

const status = async (res: Promise<Response>) => {
  const r = await res
  await r.body?.cancel()
  return r.status
}
const failures = (ip: string) => used(`ip=${ip}`, FAILURE_CHECK.id)

async function expectBlocked(res: Response, retryAfter: number) {
  expect(res.status).toBe(429)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.headers.get('retry-after')).toBe(String(retryAfter))
  expect(res.headers.get('set-cookie')).toBeNull()
  expect(await res.json()).toMatchObject({
    code: 'ERR_RATE_LIMITED',
    status: 429,
    limit: 'admin-token-failures',
    retryAfter,
    detail: `Too many wrong admin tokens from this address; retry in ${retryAfter} s.`,
  })
}

describe('admin API: wrong bearer tokens per IP', () => {
  it(`${MAX_FAILURES} wrong tokens, then 429 with Retry-After even for the right token, until the window passes; another IP still works`, async () => {
    expect([MAX_FAILURES, FAILURE_WINDOW_MS]).toEqual([10, 300_000])
    const gw = gateway()
    const ip = freshIp()
    const t0 = Date.parse('2026-03-10T12:00:00Z')
    await setClock(`ip=${ip}`, t0)
    for (let i = 0; i < MAX_FAILURES; i++) {
      const res = await health(gw, ip, `guess-${i}`)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeway-admin"')
      await res.body?.cancel()
    }
    await expectBlocked(await health(gw, ip, 'guess-10'), 300)
    await expectBlocked(await health(gw, ip, TOKEN), 300)
    expect(gw.logs.at(-1)).toMatchObject({ status: 429, adminBlocked: true })
    expect(await failures(ip)).toBe(MAX_FAILURES)

    const other = await health(gw, freshIp(), TOKEN)
    expect(other.status).toBe(200)
    expect(await other.json()).toMatchObject({ status: 'ok' })

    await setClock(`ip=${ip}`, t0 + FAILURE_WINDOW_MS - 1000)
    await expectBlocked(await health(gw, ip, TOKEN), 1)
    await setClock(`ip=${ip}`, t0 + FAILURE_WINDOW_MS)
    expect(await status(health(gw, ip, TOKEN))).toBe(200)
  })

  it('right tokens and requests without a token are not counted', async () => {
    const gw = gateway()
    const ip = freshIp()
    for (let i = 0; i < 5; i++) expect(await status(health(gw, ip, TOKEN))).toBe(200)
    for (let i = 0; i < 15; i++) expect(await status(health(gw, ip))).toBe(401)
    expect(await status(gw.fetch('/_edgeway/health', { headers: { 'cf-connecting-ip': ip, authorization: `Basic ${TOKEN}` } }))).toBe(401)
    for (let i = 0; i < MAX_FAILURES - 1; i++) expect(await status(health(gw, ip, `guess-${i}`))).toBe(401)
    expect(await failures(ip)).toBe(MAX_FAILURES - 1)
    expect(await status(health(gw, ip, TOKEN))).toBe(200)
    expect(await status(health(gw, ip, 'one-more'))).toBe(401)
    expect(await status(health(gw, ip, 'and-another'))).toBe(429)
  })

  it('1,000 concurrent guesses from one IP: exactly 10 get an answer on the token (401), the rest 429', async () => {
    const gw = gateway()
    const ip = freshIp()
    const statuses = await Promise.all(Array.from({ length: 1000 }, (_, i) => status(health(gw, ip, `guess-${i}`))))
    expect(statuses.filter((s) => s === 401)).toHaveLength(MAX_FAILURES)
    expect(statuses.filter((s) => s === 429)).toHaveLength(1000 - MAX_FAILURES)
  })
})

describe('dashboard: login and bearer tokens', () => {
  it(`${MAX_FAILURES} wrong logins, then the right token gets 429 (JSON and form) and no cookie; another IP logs in`, async () => {
    const gw = gateway()
    const ip = freshIp()
    for (let i = 0; i < MAX_FAILURES / 2; i++) expect(await status(jsonLogin(gw, ip, `guess-${i}`))).toBe(401)
    for (let i = 0; i < MAX_FAILURES / 2; i++) {
      const page = await formLogin(gw, ip, `guess-${i}`)
      expect(page.status).toBe(401)
      expect(await page.text()).toContain('Wrong admin token.')
    }
    const right = await jsonLogin(gw, ip, TOKEN)
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(299)
    await expectBlocked(right, Number(right.headers.get('retry-after')))
    expect(await status(formLogin(gw, ip, TOKEN))).toBe(429)
    const elsewhere = await jsonLogin(gw, freshIp(), TOKEN)
    expect(elsewhere.status).toBe(204)
    expect(elsewhere.headers.get('set-cookie')).toMatch(/^edgeway_session=/)
  })

  it('a locked-out address is refused before its body is read; a browser gets the form with the reason', async () => {
    const gw = gateway()
    const ip = freshIp()
    for (let i = 0; i < MAX_FAILURES; i++) expect(await status(health(gw, ip, `guess-${i}`))).toBe(401)
    // 64 KiB offered a KiB at a time: a blocked login reads none of it (was: all of it, then 429).
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({ pull(controller) { if (pulled++ < 64) controller.enqueue(new Uint8Array(1024).fill(0x61)); else controller.close() } }, { highWaterMark: 0 })
    const blocked = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'cf-connecting-ip': ip, 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit)
    await expectBlocked(blocked, Number(blocked.headers.get('retry-after')))
    expect(pulled).toBeLessThanOrEqual(1)
    // The form login: the page again, with the reason and when to retry (was: the raw problem JSON).
    const page = await formLogin(gw, ip, TOKEN)
    expect(page.status).toBe(429)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(299)
    expect(page.headers.get('set-cookie')).toBeNull()
    expect(page.headers.get('www-authenticate')).toBeNull()
    const html = await page.text()
    expect(html).toContain('<form method="post" action="/_edgeway/login"')
    expect(html).toMatch(/role="alert">Too many wrong admin tokens from this address; retry in \d+ s\.</)
    expect(await failures(ip)).toBe(MAX_FAILURES)
  })

  it('the admin API, the login and the dashboard bearer token share one counter; a session cookie is not a guess and keeps working', async () => {
    const gw = gateway()
    const ip = freshIp()
    const login = await jsonLogin(gw, ip, TOKEN)
    const cookie = /edgeway_session=([^;]*)/.exec(login.headers.get('set-cookie') ?? '')?.[1]
    expect(cookie).toBeTruthy()
    const metrics = (headers: Record<string, string>) => gw.fetch('/_edgeway/dashboard', { headers: { 'cf-connecting-ip': ip, ...headers }, redirect: 'manual' })
    for (let i = 0; i < 4; i++) expect(await status(health(gw, ip, `guess-${i}`))).toBe(401)
    for (let i = 0; i < 3; i++) expect(await status(jsonLogin(gw, ip, `guess-${i}`))).toBe(401)
    for (let i = 0; i < 3; i++) expect(await status(metrics({ authorization: `Bearer guess-${i}` }))).toBe(401)
    expect(await failures(ip)).toBe(MAX_FAILURES)
    expect(await status(metrics({ authorization: `Bearer ${TOKEN}` }))).toBe(429)
    expect(await status(health(gw, ip, TOKEN))).toBe(429)
    expect(await status(metrics({ cookie: `edgeway_session=${cookie}` }))).toBe(302)
    expect(await status(metrics({ cookie: 'edgeway_session=1.forged' }))).toBe(401)
    expect(await failures(ip)).toBe(MAX_FAILURES)
  })
})

describe('when the limiter is missing or broken', () => {
  it('without the RATE_LIMITER binding nothing is counted (documented as off)', async () => {
    const gw = gateway({ RATE_LIMITER: undefined })
    const ip = freshIp()
    for (let i = 0; i < MAX_FAILURES + 5; i++) expect(await status(health(gw, ip, `guess-${i}`))).toBe(401)
    expect(await status(health(gw, ip, TOKEN))).toBe(200)
    expect(await failures(ip)).toBe(0)
  })

  it('a failing object never locks the operator out: wrong tokens get 401, the right one 200', async () => {
    const gw = gateway()
    const ip = freshIp()
    await inObject(`ip=${ip}`, (instance) => {
      instance.clock = () => {
        throw new Error('disk on fire')
      }
    })
    for (let i = 0; i < MAX_FAILURES + 2; i++) expect(await status(health(gw, ip, `guess-${i}`))).toBe(401)
    expect(await status(health(gw, ip, TOKEN))).toBe(200)
    expect(await status(jsonLogin(gw, ip, TOKEN))).toBe(204)
  })
})
