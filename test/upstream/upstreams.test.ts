/** Upstream kinds and path rewriting: base paths, `${VAR}`, service bindings, strip-prefix, templates. */
import { describe, expect, it } from 'vitest'
import { ORIGIN, testGateway, type Echo } from '../support/gateway'

describe('upstream targets', () => {
  it('a URL with a base path and a ${VAR} from the Worker environment', async () => {
    const gw = testGateway({
      upstreams: { api: { url: '${ORIGIN_URL}/echo/base/' } },
      routes: [{ id: 'r', match: { path: '/*' }, action: { type: 'proxy', upstream: 'api' } }],
    })
    const echo = (await (await gw.fetch('/a/b?x=1')).json()) as Echo
    expect(echo.url).toBe('/echo/base/a/b?x=1')
    expect(gw.logs.at(-1)?.upstream?.target).toBe(ORIGIN)
  })

  it('a service binding to another Worker', async () => {
    const gw = testGateway({
      upstreams: { svc: { service: 'ECHO_SERVICE' } },
      routes: [{ id: 'r', match: { path: '/svc/*' }, action: { type: 'proxy', upstream: 'svc', stripPrefix: '/svc' } }],
    })
    const res = await gw.fetch('/svc/items/1?x=1', { method: 'POST', body: 'hello' })
    expect(res.status).toBe(200)
    const seen = (await res.json()) as { via: string; method: string; url: string; body: string; requestId: string }
    expect(seen).toMatchObject({ via: 'service', method: 'POST', body: 'hello', requestId: res.headers.get('x-request-id') })
    expect(new URL(seen.url).pathname + new URL(seen.url).search).toBe('/items/1?x=1')
    expect(gw.logs.at(-1)?.upstream).toMatchObject({ name: 'svc', target: 'service:ECHO_SERVICE', status: 200 })
  })
})

describe('path rewriting', () => {
  const gw = testGateway({
    upstreams: { origin: { url: ORIGIN } },
    routes: [
      { id: 'strip', match: { path: '/api/*' }, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api' } },
      { id: 'users', match: { path: '/users/:id' }, action: { type: 'proxy', upstream: 'origin', path: '/echo/v2/users/{params.id}' } },
      { id: 'by-query', match: { path: '/files' }, action: { type: 'proxy', upstream: 'origin', path: '/echo/files/{query.name}' } },
      { id: 'tail', match: { path: '/t/*' }, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/t', path: '/echo/tail/{params.*}' } },
      { id: 'apix', match: { path: '/apix/*' }, action: { type: 'proxy', upstream: 'origin', stripPrefix: '/api' } },
    ],
  })
  const urlOf = async (path: string) => {
    const res = await gw.fetch(path)
    return res.status === 200 ? ((await res.json()) as Echo).url : res.status
  }

  it('strip-prefix removes whole leading segments only', async () => {
    expect(await urlOf('/api/echo/x?q=1')).toBe('/echo/x?q=1')
    expect(await urlOf('/apix/echo')).toBe('/apix/echo')
  })

  it('templates use params (decoded, re-encoded) and keep the query', async () => {
    expect(await urlOf('/users/42?fields=name')).toBe('/echo/v2/users/42?fields=name')
    expect(await urlOf('/users/caf%C3%A9')).toBe('/echo/v2/users/caf%C3%A9')
    expect(await urlOf('/users/a%25b')).toBe('/echo/v2/users/a%25b')
    expect(await urlOf('/t/a/b%20c')).toBe('/echo/tail/a/b%20c')
  })

  it('a query value cannot add or remove path segments', async () => {
    expect(await urlOf('/files?name=..%2F..%2Fadmin')).toBe('/echo/files/..%2F..%2Fadmin?name=..%2F..%2Fadmin')
    expect(await urlOf('/files?name=a/b')).toBe('/echo/files/a%2Fb?name=a/b')
    expect(await urlOf('/files?name=..')).toBe(400)
    expect(await urlOf('/files?name=.')).toBe(400)
  })
})
