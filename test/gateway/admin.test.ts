/** The admin API: off without its token secret, bearer-protected, version and redacted config. */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { redactConfig } from '../../src/gateway/admin'
import { testGateway } from '../support/gateway'

const config: GatewayConfigInput = {
  upstreams: { api: { url: 'http://127.0.0.1:9' } },
  consumers: { acme: { metadata: { password: 'hunter2', tier: 'gold', credentials: { user: 'acme-user', pass: 'acme-pass-9' } } } },
  routes: [
    {
      id: 'r',
      match: { path: '/r' },
      policies: [{ type: 'headers', request: { set: { Authorization: 'Bearer static-upstream-secret', 'X-Api-Key': 'k-123456', 'X-Plain': 'visible' } } }],
      action: { type: 'proxy', upstream: 'api' },
    },
  ],
}
const auth = { authorization: `Bearer ${env.ADMIN_TOKEN}` }

describe('admin API', () => {
  it('is off while the token secret is not set: its prefix is just a path', async () => {
    const gw = testGateway(config, { ADMIN_TOKEN: undefined })
    const res = await gw.fetch('/_edgeway/health', { headers: auth })
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ code: 'ERR_ROUTE_NOT_FOUND', detail: 'No route matches this request.' })
    expect((await testGateway(config, { ADMIN_TOKEN: '' }).fetch('/_edgeway/health', { headers: auth })).status).toBe(404)
  })

  it('needs the bearer token: 401 problem with WWW-Authenticate otherwise', async () => {
    const gw = testGateway(config)
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: `Basic ${env.ADMIN_TOKEN}` }, { authorization: `Bearer ${env.ADMIN_TOKEN}x` }]) {
      const res = await gw.fetch('/_edgeway/config', { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeway-admin"')
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      const text = await res.text()
      expect(text).not.toContain('hunter2')
      expect(JSON.parse(text)).toMatchObject({ code: 'ERR_UNAUTHORIZED', instance: res.headers.get('x-request-id') })
    }
  })

  it('health and config show the version; secrets are redacted', async () => {
    const gw = testGateway(config)
    const health = await gw.fetch('/_edgeway/health', { headers: auth })
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({ status: 'ok', configVersion: 'unversioned', routes: 1, upstreams: 1 })
    const res = await gw.fetch('/_edgeway/config', { headers: auth })
    expect(res.status).toBe(200)
    const text = await res.text()
    for (const secret of ['hunter2', 'static-upstream-secret', 'k-123456', 'acme-user', 'acme-pass-9']) expect(text).not.toContain(secret)
    const body = JSON.parse(text) as { version: string; config: any }
    expect(body.version).toBe('unversioned')
    expect(body.config.consumers.acme.metadata).toEqual({ password: '[redacted]', tier: 'gold', credentials: '[redacted]' })
    // Every header value a `headers` policy sets is marked secret in its schema (was: by name only, so 'X-Plain' showed).
    expect(body.config.routes[0].policies[0].request.set).toEqual({ Authorization: '[redacted]', 'X-Api-Key': '[redacted]', 'X-Plain': '[redacted]' })
    expect(gw.logs.at(-1)).toMatchObject({ admin: true, status: 200 })
  })

  it('an unknown admin endpoint is a 404 problem (after auth)', async () => {
    const gw = testGateway(config)
    expect((await gw.fetch('/_edgeway/nope', { headers: auth })).status).toBe(404)
    expect((await gw.fetch('/_edgeway/nope')).status).toBe(401)
  })

  it('a wrong method on a known endpoint is a 405 with Allow, as on public routes (was: 404)', async () => {
    const gw = testGateway(config)
    const cases: [string, string, string][] = [
      ['DELETE', '/_edgeway/health', 'GET, HEAD'],
      ['PUT', '/_edgeway/api-keys', 'POST, GET, HEAD'],
      ['PATCH', '/_edgeway/api-keys/0123456789ab', 'GET, HEAD, DELETE'],
      ['GET', '/_edgeway/cache/purge', 'POST'],
      ['POST', '/_edgeway/rate-limits', 'GET, HEAD, DELETE'],
      ['DELETE', '/_edgeway/metrics', 'GET, HEAD'],
    ]
    for (const [method, path, allow] of cases) {
      const res = await gw.fetch(path, { method, headers: auth })
      expect([method, path, res.status, res.headers.get('allow')]).toEqual([method, path, 405, allow])
      expect(await res.json()).toMatchObject({ code: 'ERR_METHOD_NOT_ALLOWED', detail: `${method} is not allowed here.` })
    }
    // Bearer endpoints still want the token first; the login (its own auth) answers a browser's GET at once.
    expect((await gw.fetch('/_edgeway/health', { method: 'DELETE' })).status).toBe(401)
    const login = await gw.fetch('/_edgeway/login')
    expect([login.status, login.headers.get('allow')]).toEqual([405, 'POST'])
  })

  it('a configured prefix and secret name', async () => {
    const gw = testGateway({ ...config, gateway: { admin: { prefix: '/ops/admin', tokenSecret: 'OPS_TOKEN' } } }, { OPS_TOKEN: 'ops-secret' })
    expect((await gw.fetch('/ops/admin/health', { headers: { authorization: 'Bearer ops-secret' } })).status).toBe(200)
    expect((await gw.fetch('/ops/admin/health', { headers: auth })).status).toBe(401)
    expect((await gw.fetch('/_edgeway/health', { headers: auth })).status).toBe(404)
  })

  it('redacts by schema: secret header values of any name are hidden, maxTokenAge and names of Worker secrets shown', () => {
    const source = {
      upstreams: { api: { url: 'http://127.0.0.1:9' } },
      routes: [
        {
          id: 'r',
          match: { path: '/r' },
          policies: [
            { type: 'jwt', issuers: [{ issuer: 'https://idp.example', secret: 'JWT_HMAC', algorithms: ['HS256'], maxTokenAge: 600, clockTolerance: 5 }] },
            { type: 'headers', request: { set: { 'X-Auth': 'literal-auth-1' }, add: { 'X-Upstream-Key': 'literal-key-2' }, remove: ['Cookie'] } },
            { type: 'transform', request: { headers: { set: { 'X-Upstream-Key': 'literal-key-3' } } } },
            { type: 'origin-auth', secret: 'ORIGIN_HMAC' },
          ],
          action: { type: 'proxy', upstream: 'api' },
        },
        {
          id: 'agg',
          match: { path: '/agg' },
          action: { type: 'aggregate', calls: [{ name: 'a', upstream: 'api', path: '/a', headers: { 'X-Call-Key': 'literal-key-4' } }] },
        },
      ],
      gateway: { admin: { tokenSecret: 'ADMIN_TOKEN' } },
    }
    const shown = redactConfig(source) as any
    const text = JSON.stringify(shown)
    for (const secret of ['literal-auth-1', 'literal-key-2', 'literal-key-3', 'literal-key-4']) expect(text).not.toContain(secret)
    const [jwt, headers, transform, originAuth] = shown.routes[0].policies
    expect(jwt.issuers[0]).toEqual({ issuer: 'https://idp.example', secret: 'JWT_HMAC', algorithms: ['HS256'], maxTokenAge: 600, clockTolerance: 5 })
    expect(headers.request).toEqual({ set: { 'X-Auth': '[redacted]' }, add: { 'X-Upstream-Key': '[redacted]' }, remove: ['Cookie'] })
    expect(transform.request.headers.set).toEqual({ 'X-Upstream-Key': '[redacted]' })
    expect(originAuth).toEqual({ type: 'origin-auth', secret: 'ORIGIN_HMAC' })
    expect(shown.routes[1].action.calls[0].headers).toEqual({ 'X-Call-Key': '[redacted]' })
    expect(shown.gateway).toEqual({ admin: { tokenSecret: 'ADMIN_TOKEN' } })
  })

  it('redactConfig hides whole objects and lists under a secret-sounding key', () => {
    expect(redactConfig({ credentials: { user: 'a', pass: 'b' }, tokens: [{ v: 't' }], cors: { credentials: true }, apiKey: null })).toEqual({
      credentials: '[redacted]',
      tokens: '[redacted]',
      cors: { credentials: true },
      apiKey: null,
    })
  })

  it('redactConfig covers secret-sounding keys at any depth', () => {
    expect(
      redactConfig({ a: { clientSecret: 's', apiKey: 'k', api_key: 'k', Cookie: 'c', privateKey: 'p', list: [{ token: 't' }], apiKeys: ['k1', 'k2'], n: 1 } }),
    ).toEqual({ a: { clientSecret: '[redacted]', apiKey: '[redacted]', api_key: '[redacted]', Cookie: '[redacted]', privateKey: '[redacted]', list: [{ token: '[redacted]' }], apiKeys: '[redacted]', n: 1 } })
  })
})
