/** `cors`: preflights and actual requests, judged by the Fetch standard's own checks. */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { newTag, ORIGIN, originLog, policyGateway, testGateway, type RouteInput } from '../support/gateway'
import { corsCheck, preflightAllows, varies } from './fetch-cors'

/** Route `api` (`/echo/*`, these `methods` only when given) with the `cors` policy, proxying to the origin. */
const routeGateway = (cors: Record<string, unknown>, methods?: RouteInput['match']['methods']) =>
  policyGateway('cors', cors, { id: 'api', match: { path: '/echo/*', ...(methods && { methods }) } })

const preflight = (origin: string, method: string, headers?: string, tag = newTag()) => ({
  method: 'OPTIONS',
  headers: {
    origin,
    'access-control-request-method': method,
    'x-test-tag': tag,
    ...(headers !== undefined && { 'access-control-request-headers': headers }),
  },
})

describe('cors: preflight', () => {
  it('answers an allowed origin at the edge without touching the origin', async () => {
    const gw = routeGateway({ origins: ['https://app.example.com'], allowHeaders: ['Content-Type', 'X-Api-Key'], maxAge: 600 }, ['GET', 'PUT'])
    const tag = newTag()
    const res = await gw.fetch('/echo/x', preflight('https://app.example.com', 'PUT', 'content-type, x-api-key', tag))
    expect(res.status).toBe(204)
    expect(preflightAllows(res, 'https://app.example.com', false, 'PUT', ['content-type', 'x-api-key'])).toBe(true)
    expect(preflightAllows(res, 'https://app.example.com', false, 'PUT', ['x-other'])).toBe(false)
    expect(res.headers.get('access-control-max-age')).toBe('600')
    expect(varies(res, 'Origin')).toBe(true)
    expect(await originLog(tag)).toEqual([])
  })

  it('matches a route whose methods lack OPTIONS by the method the preflight asks about', async () => {
    const gw = routeGateway({ origins: 'https://app.example.com' }, ['DELETE'])
    const ok = await gw.fetch('/echo/x', preflight('https://app.example.com', 'DELETE'))
    expect(preflightAllows(ok, 'https://app.example.com', false, 'DELETE')).toBe(true)
    // A plain OPTIONS (not a preflight) still isn't one of the route's methods.
    expect((await gw.fetch('/echo/x', { method: 'OPTIONS' })).status).toBe(405)
    // A preflight for a method the route doesn't serve fails (405 is not an ok status).
    const wrong = await gw.fetch('/echo/x', preflight('https://app.example.com', 'PATCH'))
    expect(preflightAllows(wrong, 'https://app.example.com', false, 'PATCH')).toBe(false)
  })

  it('gives a disallowed origin a 204 with no CORS headers', async () => {
    const gw = routeGateway({ origins: ['https://app.example.com', 'https://*.example.org'] })
    for (const origin of ['https://evil.example', 'https://example.org', 'http://a.example.org', 'https://a.example.org:8443', 'null']) {
      const res = await gw.fetch('/echo/x', preflight(origin, 'POST'))
      expect(res.status).toBe(204)
      expect([...res.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([])
      expect(preflightAllows(res, origin, false, 'POST')).toBe(false)
      expect(varies(res, 'Origin')).toBe(true)
    }
  })

  it('reflects requested headers with allowHeaders ["*"], varying on them', async () => {
    const gw = routeGateway({ origins: 'https://app.example.com', allowHeaders: ['*'], credentials: true })
    const res = await gw.fetch('/echo/x', preflight('https://app.example.com', 'POST', 'authorization,x-trace'))
    expect(preflightAllows(res, 'https://app.example.com', true, 'POST', ['authorization', 'x-trace'])).toBe(true)
    expect(varies(res, 'Access-Control-Request-Headers')).toBe(true)
  })

  it('a global policy answers preflights for any path, even unrouted ones', async () => {
    const gw = testGateway({ policies: [{ type: 'cors', origins: '*' }], routes: [{ id: 'r', match: { path: '/status' }, action: { type: 'respond' } }] })
    const res = await gw.fetch('/nowhere', preflight('https://any.site', 'DELETE'))
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe('*')
    expect(preflightAllows(res, 'https://any.site', false, 'DELETE')).toBe(true)
    expect(varies(res, 'Origin')).toBe(false)
  })
})

describe('cors: actual requests', () => {
  it('exact origin: readable by it, not by others; Vary: Origin on both', async () => {
    const gw = routeGateway({ origins: 'https://app.example.com', exposeHeaders: ['X-Request-Id'] })
    const ok = await gw.fetch('/echo/x', { headers: { origin: 'https://app.example.com' } })
    expect(ok.status).toBe(200)
    expect(corsCheck(ok, 'https://app.example.com', false)).toBe(true)
    expect(ok.headers.get('access-control-expose-headers')).toBe('X-Request-Id')
    expect(varies(ok, 'Origin')).toBe(true)
    const other = await gw.fetch('/echo/x', { headers: { origin: 'https://other.example.com' } })
    expect(other.status).toBe(200)
    expect(corsCheck(other, 'https://other.example.com', false)).toBe(false)
    expect(other.headers.get('access-control-expose-headers')).toBeNull()
    expect(varies(other, 'Origin')).toBe(true)
    const none = await gw.fetch('/echo/x')
    expect(none.headers.get('access-control-allow-origin')).toBeNull()
    expect(varies(none, 'Origin')).toBe(true)
  })

  it('wildcard subdomains: any depth of subdomain, same scheme and port, not the bare domain', async () => {
    const gw = routeGateway({ origins: ['https://*.example.com', 'http://*.local.test:8080'] })
    const allowed = ['https://a.example.com', 'https://a.b.example.com', 'http://x.local.test:8080']
    const refused = ['https://example.com', 'https://aexample.com', 'http://a.example.com', 'https://a.example.com:444', 'http://x.local.test', 'https://a.example.com.evil.io']
    for (const origin of allowed) expect(corsCheck(await gw.fetch('/echo/x', { headers: { origin } }), origin, false), origin).toBe(true)
    for (const origin of refused) expect(corsCheck(await gw.fetch('/echo/x', { headers: { origin } }), origin, false), origin).toBe(false)
  })

  it('credentials: reflects the origin, never "*", and sets Allow-Credentials', async () => {
    const gw = routeGateway({ origins: ['https://*.example.com'], credentials: true })
    const res = await gw.fetch('/echo/x', { headers: { origin: 'https://app.example.com', cookie: 'session=1' } })
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com')
    expect(corsCheck(res, 'https://app.example.com', true)).toBe(true)
    const refused = await gw.fetch('/echo/x', { headers: { origin: 'https://evil.example' } })
    expect(refused.headers.get('access-control-allow-credentials')).toBeNull()
    expect(corsCheck(refused, 'https://evil.example', true)).toBe(false)
  })

  it('"*" without credentials: readable without credentials only, no Vary', async () => {
    const gw = routeGateway({ origins: '*' })
    const res = await gw.fetch('/echo/x', { headers: { origin: 'https://any.site' } })
    expect(corsCheck(res, 'https://any.site', false)).toBe(true)
    expect(corsCheck(res, 'https://any.site', true)).toBe(false)
    expect(varies(res, 'Origin')).toBe(false)
  })

  it('drops the origin\'s own CORS headers and adds its own to error responses too', async () => {
    const gw = testGateway({
      upstreams: { origin: { url: ORIGIN } },
      policies: [{ type: 'cors', origins: 'https://app.example.com' }],
      routes: [
        {
          id: 'r',
          match: { path: '/echo/*' },
          policies: [{ type: 'headers', response: { set: { 'Access-Control-Allow-Origin': '*' } } }],
          action: { type: 'proxy', upstream: 'origin' },
        },
      ],
    })
    const res = await gw.fetch('/echo/x', { headers: { origin: 'https://evil.example' } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    const missing = await gw.fetch('/nope', { headers: { origin: 'https://app.example.com' } })
    expect(missing.status).toBe(404)
    expect(corsCheck(missing, 'https://app.example.com', false)).toBe(true)
  })
})

describe('cors: never on the admin API', () => {
  const app = 'https://app.example.com'
  const adminAuth = { authorization: `Bearer ${env.ADMIN_TOKEN}` }
  const gateway = () =>
    testGateway({
      upstreams: { origin: { url: ORIGIN } },
      policies: [{ type: 'cors', origins: [app], credentials: true, allowHeaders: ['Authorization'] }],
      routes: [{ id: 'api', match: { path: '/echo/*' }, action: { type: 'proxy', upstream: 'origin' } }],
    })

  it('an allowed origin with credentials gets no CORS headers from the admin API or dashboard', async () => {
    const gw = gateway()
    const health = await gw.fetch('/_edgeway/health', { headers: { origin: app, ...adminAuth } })
    expect(health.status).toBe(200)
    expect(corsCheck(health, app, true)).toBe(false)
    const metrics = await gw.fetch('/_edgeway/metrics', { headers: { origin: app, ...adminAuth } })
    expect(metrics.headers.get('access-control-allow-origin')).toBeNull()
    expect(metrics.headers.get('access-control-allow-credentials')).toBeNull()
    // Also when Hono decodes the path into the admin mount.
    const encoded = await gw.fetch('/%5Fedgeway/health', { headers: { origin: app, ...adminAuth } })
    expect(encoded.status).toBe(200)
    expect(encoded.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('a preflight to an admin path is not allowed', async () => {
    const gw = gateway()
    for (const path of ['/_edgeway/metrics', '/_edgeway/config', '/_edgeway']) {
      const res = await gw.fetch(path, preflight(app, 'GET', 'authorization'))
      expect(preflightAllows(res, app, true, 'GET', ['authorization'])).toBe(false)
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
    }
  })

  it('ordinary routes keep their CORS', async () => {
    const gw = gateway()
    const res = await gw.fetch('/echo/x', { headers: { origin: app, 'x-test-tag': newTag() } })
    expect(corsCheck(res, app, true)).toBe(true)
    expect(preflightAllows(await gw.fetch('/echo/x', preflight(app, 'GET', 'authorization')), app, true, 'GET', ['authorization'])).toBe(true)
    // A path that only starts like the prefix is not the admin API.
    expect(corsCheck(await gw.fetch('/_edgewayx', { headers: { origin: app } }), app, true)).toBe(true)
  })
})
