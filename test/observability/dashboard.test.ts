/** The dashboard: login and session cookie, what an anonymous visitor gets, the data API's shape. */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { signSession, SESSION_SECONDS } from '../../src/observability/dashboard-session'
import type { MetricsReport } from '../../src/observability/query'
import { routeConfig } from '../support/gateway'
import { ADMIN, metricsGateway } from './helpers'

const TOKEN = env.ADMIN_TOKEN
const now = () => Math.floor(Date.now() / 1000)

/** Route `echo` (`/echo/*`) to the origin, metrics through the aggregator, the admin API under `prefix`. */
const gateway = (prefix?: string) =>
  metricsGateway(routeConfig({ id: 'echo', match: { path: '/echo/*' } }, { gateway: { metrics: { aggregator: { flushMs: 1 } }, ...(prefix && { admin: { prefix } }) } }))

const withCookie = (value: string) => ({ headers: { Cookie: `edgeway_session=${value}` } })

async function login(gw: ReturnType<typeof gateway>, url = '/_edgeway/login'): Promise<{ res: Response; cookie: string }> {
  const res = await gw.fetch(url, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' })
  const setCookie = res.headers.get('set-cookie') ?? ''
  return { res, cookie: /edgeway_session=([^;]*)/.exec(setCookie)?.[1] ?? '' }
}

describe('dashboard login', () => {
  it('the login form trades the admin token for an HttpOnly, SameSite=Strict, Secure session cookie', async () => {
    const gw = gateway()
    const { res, cookie } = await login(gw, 'https://gateway.test/_edgeway/login')
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/_edgeway/dashboard/')
    const setCookie = res.headers.get('set-cookie')!
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/_edgeway', `Max-Age=${SESSION_SECONDS}`]) expect(setCookie).toContain(attribute)
    expect(setCookie).not.toContain(TOKEN)
    const page = await gw.fetch('/_edgeway/dashboard/', withCookie(cookie))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.headers.get('cache-control')).toBe('no-store')
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(await page.text()).toContain('id="kpi-requests"')
    const script = await gw.fetch('/_edgeway/dashboard/app.js', withCookie(cookie))
    expect(script.status).toBe(200)
    expect(await script.text()).toContain('../metrics?window=')
    const data = await gw.fetch('/_edgeway/metrics', withCookie(cookie))
    expect(data.status).toBe(200)
  })

  it('on http://localhost the cookie is not Secure (so a local browser keeps it)', async () => {
    const { res } = await login(gateway(), 'http://localhost:8787/_edgeway/login')
    expect(res.headers.get('set-cookie')).not.toContain('Secure')
  })

  it('a JSON login answers 204 with the cookie; a wrong token gets 401 and no cookie', async () => {
    const gw = gateway()
    const ok = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) })
    expect(ok.status).toBe(204)
    expect(ok.headers.get('set-cookie')).toMatch(/^edgeway_session=\d+\.[A-Za-z0-9_-]{43};/)
    const bad = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: 'nope' }) })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('content-type')).toBe('application/problem+json')
    expect(bad.headers.get('set-cookie')).toBeNull()
    // Malformed JSON is a bad request, not a wrong token (was: 401).
    const badJson = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{not json' })
    expect(badJson.status).toBe(400)
    expect(await badJson.json()).toMatchObject({ code: 'ERR_BAD_REQUEST', detail: 'The body is not valid JSON.' })
    const noToken = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    expect(noToken.status).toBe(400)
    const form = await gw.fetch('/_edgeway/login', { method: 'POST', body: new URLSearchParams({ token: 'wrong' }) })
    expect(form.status).toBe(401)
    expect(form.headers.get('set-cookie')).toBeNull()
    expect(await form.text()).toContain('Wrong admin token.')
  })

  it('a login body is at most 4 KiB: refused before reading when declared, after 4 KiB when streamed', async () => {
    const gw = gateway()
    const declared = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: 'x'.repeat(5000) }) })
    expect(declared.status).toBe(413)
    expect(declared.headers.get('content-type')).toBe('application/problem+json')
    expect(await declared.json()).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE', detail: 'The body is over 4096 bytes.' })
    // No Content-Length: read until the cap, not to the end (90 KiB on offer).
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({ pull(controller) { if (pulled++ < 90) controller.enqueue(new Uint8Array(1024).fill(0x61)); else controller.close() } }, { highWaterMark: 0 })
    const streamed = await gw.fetch('/_edgeway/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, duplex: 'half' } as RequestInit)
    expect(streamed.status).toBe(413)
    expect(pulled).toBeLessThan(10)
    // A browser gets the form with the reason.
    const form = await gw.fetch('/_edgeway/login', { method: 'POST', body: new URLSearchParams({ token: 'x'.repeat(5000) }) })
    expect(form.status).toBe(413)
    expect(await form.text()).toContain('role="alert">The body is over 4096 bytes.<')
  })

  it('logout clears the cookie', async () => {
    const res = await gateway().fetch('/_edgeway/logout', { method: 'POST', redirect: 'manual' })
    expect(res.status).toBe(303)
    expect(res.headers.get('set-cookie')).toMatch(/^edgeway_session=; Path=\/_edgeway; Max-Age=0;/)
  })

  it('follows a custom admin prefix', async () => {
    const gw = gateway('/ops')
    const { res, cookie } = await login(gw, '/ops/login')
    expect(res.headers.get('location')).toBe('/ops/dashboard/')
    expect(res.headers.get('set-cookie')).toContain('Path=/ops')
    expect((await gw.fetch('/ops/dashboard/', withCookie(cookie))).status).toBe(200)
    expect((await gw.fetch('/_edgeway/dashboard/', withCookie(cookie))).status).toBe(404)
  })
})

describe('an anonymous visitor', () => {
  it('gets the login form, never the dashboard page, its files or data', async () => {
    const gw = gateway()
    for (const path of ['/_edgeway/dashboard', '/_edgeway/dashboard/', '/_edgeway/dashboard/index.html']) {
      const res = await gw.fetch(path)
      expect(res.status).toBe(401)
      const html = await res.text()
      expect(html).toContain('<form method="post" action="/_edgeway/login"')
      expect(html).not.toContain('kpi-requests')
    }
    for (const path of ['/_edgeway/dashboard/app.js', '/_edgeway/dashboard/styles.css', '/_edgeway/metrics?window=5m']) {
      const res = await gw.fetch(path)
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(((await res.json()) as { code: string }).code).toBe('ERR_UNAUTHORIZED')
    }
  })

  it.each([
    ['forged (random MAC)', async () => `${now() + 3600}.${'A'.repeat(43)}`],
    ['expired', async () => signSession(TOKEN, now() - 1)],
    ['signed with another key', async () => signSession('some-other-admin-token', now() + 3600)],
    ['expiry edited after signing', async () => (await signSession(TOKEN, now() + 3600)).replace(/^\d+/, String(now() + 7200))],
    ['too far in the future', async () => signSession(TOKEN, now() + 30 * 86_400)],
    ['not a session at all', async () => 'x'.repeat(5000)],
  ])('a %s cookie is refused', async (_, make) => {
    const gw = gateway()
    const cookie = await make()
    expect((await gw.fetch('/_edgeway/dashboard/', withCookie(cookie))).status).toBe(401)
    expect((await gw.fetch('/_edgeway/metrics', withCookie(cookie))).status).toBe(401)
  })

  it('a valid cookie made with the same key is accepted (the refusals above are not about the format)', async () => {
    const cookie = await signSession(TOKEN, now() + 3600)
    expect((await gateway().fetch('/_edgeway/metrics', withCookie(cookie))).status).toBe(200)
  })

  it('a wrong bearer token is refused', async () => {
    const res = await gateway().fetch('/_edgeway/metrics', { headers: { Authorization: 'Bearer wrong' } })
    expect(res.status).toBe(401)
  })
})

describe('the data API', () => {
  it('answers the documented shape for each window', async () => {
    const gw = gateway()
    await gw.fetch('/echo/a')
    for (const [window, points] of [['5m', 5], ['15m', 15], ['1h', 60], ['6h', [72, 73]], ['24h', [144, 145]]] as const) {
      const res = await gw.fetch(`/_edgeway/metrics?window=${window}`, { headers: ADMIN })
      expect(res.status).toBe(200)
      const data = (await res.json()) as MetricsReport
      expect(Object.keys(data)).toEqual(['window', 'from', 'to', 'stepMinutes', 'shards', 'totals', 'statuses', 'series', 'topRoutes', 'topConsumers'])
      expect(data.window).toBe(window)
      expect(Object.keys(data.totals)).toEqual([
        'requests', 'ratePerSecond', 'errors', 'errorRate', 'clientErrors', 'rateLimited', 'authFailed',
        'cacheHits', 'cacheMisses', 'cacheHitRatio', 'upstreamErrors', 'breakerRejections', 'breakerOpens', 'hedges', 'hedgeWins', 'latencyMs',
        'upstreamLatencyMs',
      ])
      expect(Object.keys(data.series[0]!)).toEqual(['at', 'requests', 'errors', 'rateLimited', 'cacheHits', 'cacheMisses', 'p50', 'p95', 'p99'])
      if (typeof points === 'number') expect(data.series).toHaveLength(points)
      else expect(points).toContain(data.series.length)
      expect(data.totals.requests).toBeGreaterThanOrEqual(1)
      expect(data.shards).toEqual({ total: 4, failed: 0 })
    }
  })

  it('an unknown window is a 400 naming the allowed ones', async () => {
    const res = await gateway().fetch('/_edgeway/metrics?window=1y', { headers: ADMIN })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { detail: string }).detail).toBe('window must be one of 5m, 15m, 1h, 6h, 24h; got "1y".')
  })

  it('with the aggregator off, or its binding missing, a 503 says why', async () => {
    const off = metricsGateway({ routes: [{ id: 'x', match: { path: '/x' }, action: { type: 'respond' } }] })
    const res = await off.fetch('/_edgeway/metrics', { headers: ADMIN })
    expect(res.status).toBe(503)
    expect(((await res.json()) as { detail: string }).detail).toBe('The metrics aggregator is off (set gateway.metrics.aggregator).')
    const unbound = metricsGateway({ gateway: { metrics: { aggregator: { binding: 'NOPE' } } }, routes: [{ id: 'x', match: { path: '/x' }, action: { type: 'respond' } }] })
    expect(((await (await unbound.fetch('/_edgeway/metrics', { headers: ADMIN })).json()) as { detail: string }).detail).toBe(
      'No Durable Object binding "NOPE" for the metrics aggregator.',
    )
  })

  it('when every shard fails: 503 ERR_METRICS_UNAVAILABLE', async () => {
    const failing = { idFromName: (n: string) => n, get: () => ({ query: () => Promise.reject(new Error('down')), ingest: async () => 0 }) }
    const gw = metricsGateway(
      { gateway: { metrics: { aggregator: { binding: 'FAILING' } } }, routes: [{ id: 'x', match: { path: '/x' }, action: { type: 'respond' } }] },
      { FAILING: failing },
    )
    const res = await gw.fetch('/_edgeway/metrics', { headers: ADMIN })
    expect(res.status).toBe(503)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_METRICS_UNAVAILABLE')
  })
})
