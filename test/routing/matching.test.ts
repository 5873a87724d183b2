/** Route matching end to end through a gateway: each match type, precedence, versions, actions, 404/405. */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway } from '../support/gateway'

const text = (body: string) => ({ type: 'respond' as const, body })

const config: GatewayConfigInput = {
  versioning: {
    default: 'v2',
    versions: {
      v1: { deprecated: '2026-01-01T00:00:00Z', sunset: '2027-01-01T00:00:00Z', link: 'https://example.com/migrate-to-v2' },
      v2: {},
    },
  },
  upstreams: { down: { url: 'http://127.0.0.1:1' } },
  routes: [
    { id: 'v1-down', version: 'v1', match: { path: '/down' }, action: { type: 'proxy', upstream: 'down' } },
    { id: 'users-v1', version: 'v1', match: { path: '/users/:id', methods: ['GET'] }, action: { type: 'respond', body: { version: 'v1', id: '{params.id}' } } },
    { id: 'users-v2', version: 'v2', match: { path: '/users/:id', methods: ['GET'] }, action: { type: 'respond', body: { version: 'v2', id: '{params.id}' } } },
    { id: 'any-version', match: { path: '/shared' }, action: text('shared') },
    { id: 'host-exact', match: { path: '/host', host: 'api.example.com' }, action: text('exact') },
    { id: 'host-wild', match: { path: '/host', host: ['*.example.com', 'other.test'] }, action: text('wild') },
    { id: 'hdr-regex', match: { path: '/hdr', headers: { 'x-client': { regex: '^mobile-' } } }, action: text('regex') },
    { id: 'hdr-exact', match: { path: '/hdr', headers: { 'X-Beta': '1' } }, action: text('exact') },
    { id: 'hdr-equals', match: { path: '/hdr', headers: { 'x-beta': { equals: '2' } } }, action: text('equals') },
    { id: 'hdr-present', match: { path: '/hdr', headers: { 'x-debug': { present: true } } }, action: text('present') },
    { id: 'hdr-absent', match: { path: '/hdr', headers: { 'x-debug': { present: false }, 'x-other': { present: false } } }, action: text('absent') },
    { id: 'q-exact', match: { path: '/q', query: { view: 'full' } }, action: text('exact') },
    { id: 'q-equals', match: { path: '/q', query: { view: { equals: 'short' } } }, action: text('equals') },
    { id: 'q-present', match: { path: '/q', query: { trace: { present: true } } }, action: text('present') },
    { id: 'q-absent', match: { path: '/q', query: { nope: { present: false } } }, action: text('absent') },
    { id: 'files', match: { path: '/files/*' }, action: text('tail={params.*}') },
    { id: 'two-params', match: { path: '/orgs/:org/repos/:repo' }, action: text('{params.org}/{params.repo}') },
    { id: 'items-write', match: { path: '/items/:id', methods: ['PUT', 'DELETE'] }, action: text('write {params.id}') },
    { id: 'items-read', match: { path: '/items/:id', methods: ['GET'] }, action: text('read {params.id}') },
    { id: 'submit', match: { path: '/submit', methods: ['POST'] }, action: text('submitted') },
    { id: 'prec-special', match: { path: '/prec/special' }, action: text('special') },
    { id: 'prec-param', match: { path: '/prec/:name' }, action: text('param {params.name}') },
    { id: 'prec2-param', match: { path: '/prec2/:name' }, action: text('param {params.name}') },
    { id: 'prec2-special', match: { path: '/prec2/special' }, action: text('never chosen') },
    { id: 'moved', match: { path: '/old/:id' }, action: { type: 'redirect', status: 301, location: '/new/{params.id}?from={query.src|none}' } },
    { id: 'moved-308', match: { path: '/old308/*' }, action: { type: 'redirect', status: 308, location: 'https://example.com/{params.*}' } },
    { id: 'moved-default', match: { path: '/old302' }, action: { type: 'redirect', location: 'https://example.com/x' } },
    {
      id: 'fixed-text',
      match: { path: '/fixed/:name', methods: ['GET'] },
      action: { type: 'respond', status: 201, headers: { 'X-Name': '{params.name}', 'Content-Type': 'text/x-hello' }, body: 'hello {params.name}, {query.greet|welcome}' },
    },
    {
      id: 'fixed-json',
      match: { path: '/fixed-json/:name' },
      action: { type: 'respond', status: 202, body: { name: '{params.name}', page: '{query.page}', list: ['{params.name}', 1], nested: { ok: true } } },
    },
    { id: 'no-content', match: { path: '/empty' }, action: { type: 'respond', status: 204 } },
  ],
}

const gateway = testGateway(config)
const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => gateway.fetch(path, { method, headers })
const bodyOf = async (path: string, headers: Record<string, string> = {}) => {
  const res = await get(path, headers)
  expect(res.status).toBe(200)
  return res.text()
}

describe('match types', () => {
  it('path params are decoded; a wildcard tail is params.*', async () => {
    expect(await bodyOf('/orgs/acme/repos/gate%20way')).toBe('acme/gate way')
    expect(await bodyOf('/files/a/b/c.txt')).toBe('tail=a/b/c.txt')
    expect(await bodyOf('/files/')).toBe('tail=')
  })

  it('host: exact first (config order), then *.example.com, never the bare or a look-alike domain', async () => {
    expect(await bodyOf('http://api.example.com/host')).toBe('exact')
    expect(await bodyOf('http://API.Example.com:8443/host')).toBe('exact')
    expect(await bodyOf('http://eu.api.example.com/host')).toBe('wild')
    expect(await bodyOf('http://other.test/host')).toBe('wild')
    expect((await get('http://example.com/host')).status).toBe(404)
    expect((await get('http://evil-example.com/host')).status).toBe(404)
    expect((await get('http://example.com.evil.test/host')).status).toBe(404)
  })

  it('headers: regex, exact (name case-insensitive), equals, present, absent', async () => {
    expect(await bodyOf('/hdr', { 'x-client': 'mobile-ios', 'x-beta': '1' })).toBe('regex')
    expect(await bodyOf('/hdr', { 'x-client': 'desktop', 'x-beta': '1' })).toBe('exact')
    expect(await bodyOf('/hdr', { 'x-beta': '2' })).toBe('equals')
    expect(await bodyOf('/hdr', { 'x-beta': '3', 'x-debug': '' })).toBe('present')
    expect(await bodyOf('/hdr', {})).toBe('absent')
    expect((await get('/hdr', { 'x-other': 'x' })).status).toBe(404)
  })

  it('query: exact (any of repeated values), equals, present, absent', async () => {
    expect(await bodyOf('/q?view=full')).toBe('exact')
    expect(await bodyOf('/q?view=short&view=full')).toBe('exact')
    expect(await bodyOf('/q?view=short')).toBe('equals')
    expect(await bodyOf('/q?trace')).toBe('present')
    expect(await bodyOf('/q?view=other')).toBe('absent')
    expect((await get('/q?nope=1')).status).toBe(404)
  })

  it('methods: GET routes answer HEAD without a body; 405 lists every allowed method', async () => {
    const head = await get('/items/7', {}, 'HEAD')
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    expect(await (await get('/items/7', {}, 'PUT')).text()).toBe('write 7')
    expect(await (await get('/items/7', {}, 'DELETE')).text()).toBe('write 7')
    const res = await get('/items/7', {}, 'POST')
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('PUT, DELETE, GET, HEAD')
    const submit = await get('/submit', {}, 'GET')
    expect(submit.status).toBe(405)
    expect(submit.headers.get('allow')).toBe('POST')
  })
})

describe('precedence: config order', () => {
  it('the first route whose conditions all hold wins, however specific the later ones are', async () => {
    expect(await bodyOf('/prec/special')).toBe('special')
    expect(await bodyOf('/prec/other')).toBe('param other')
    expect(await bodyOf('/prec2/special')).toBe('param special')
    expect(gateway.logs.at(-1)?.routeId).toBe('prec2-param')
  })
})

describe('versions', () => {
  it.each([
    ['/users/1', {}, 'v2'],
    ['/v1/users/1', {}, 'v1'],
    ['/v2/users/1', {}, 'v2'],
    ['/users/1', { 'api-version': 'v1' }, 'v1'],
    ['/users/1', { 'accept-version': 'v1' }, 'v1'],
    ['/users/1', { 'api-version': 'v2' }, 'v2'],
    ['/v1/users/1', { 'api-version': 'v2' }, 'v1'],
  ])('%s %j -> %s', async (path, headers, version) => {
    const res = await get(path, headers)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ version, id: '1' })
    if (version === 'v1') {
      expect(res.headers.get('deprecation')).toBe(`@${Date.parse('2026-01-01T00:00:00Z') / 1000}`)
      expect(res.headers.get('sunset')).toBe('Fri, 01 Jan 2027 00:00:00 GMT')
      expect(res.headers.get('link')).toBe('<https://example.com/migrate-to-v2>; rel="deprecation"')
    } else {
      expect(res.headers.get('deprecation')).toBeNull()
      expect(res.headers.get('sunset')).toBeNull()
    }
  })

  it('a deprecated version marks its error responses too', async () => {
    const res = await get('/v1/down')
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('deprecation')).toBe(`@${Date.parse('2026-01-01T00:00:00Z') / 1000}`)
    expect(res.headers.get('sunset')).toBe('Fri, 01 Jan 2027 00:00:00 GMT')
  })

  it('an unknown version header is a 400 problem naming the known versions', async () => {
    const res = await get('/users/1', { 'api-version': 'v9' })
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(await res.json()).toMatchObject({ detail: 'Unknown API version "v9" in api-version (known: v1, v2).' })
  })

  it('an unknown version prefix is just a path (404)', async () => {
    expect((await get('/v9/users/1')).status).toBe(404)
  })

  it('an unknown version header only matters on a versioned path', async () => {
    // Unversioned routes ignore it; a `/v1` prefix chooses the version itself; no route: 404.
    expect(await bodyOf('/shared', { 'api-version': 'v9' })).toBe('shared')
    expect(await bodyOf('/shared', { 'accept-version': 'nonsense' })).toBe('shared')
    expect(await (await get('/v1/users/1', { 'api-version': 'v9' })).json()).toEqual({ version: 'v1', id: '1' })
    expect((await get('/nowhere/at/all', { 'api-version': 'v9' })).status).toBe(404)
  })

  it('routes without a version answer every version', async () => {
    expect(await bodyOf('/shared', { 'api-version': 'v1' })).toBe('shared')
    expect(await bodyOf('/shared')).toBe('shared')
  })
})

describe('redirects', () => {
  it('renders the location template with the status', async () => {
    const res = await get('/old/a%20b?src=mail')
    expect(res.status).toBe(301)
    expect(res.headers.get('location')).toBe('/new/a%20b?from=mail')
    expect((await get('/old/7')).headers.get('location')).toBe('/new/7?from=none')
    const permanent = await get('/old308/x/y', {}, 'POST')
    expect(permanent.status).toBe(308)
    expect(permanent.headers.get('location')).toBe('https://example.com/x/y')
    expect((await get('/old302')).status).toBe(302)
  })
})

describe('fixed responses', () => {
  it('a text template with headers', async () => {
    const res = await get('/fixed/ada?greet=hi')
    expect(res.status).toBe(201)
    expect(res.headers.get('x-name')).toBe('ada')
    expect(res.headers.get('content-type')).toBe('text/x-hello')
    expect(await res.text()).toBe('hello ada, hi')
  })

  it('a JSON template keeps structure and drops missing members', async () => {
    const res = await get('/fixed-json/ada')
    expect(res.status).toBe(202)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({ name: 'ada', list: ['ada', 1], nested: { ok: true } })
    expect(await (await get('/fixed-json/ada?page=3')).json()).toMatchObject({ page: '3' })
  })

  it('HEAD gets the headers without a body; 204 has no body', async () => {
    const head = await get('/fixed/ada', {}, 'HEAD')
    expect(head.status).toBe(201)
    expect(head.headers.get('x-name')).toBe('ada')
    expect(await head.text()).toBe('')
    const empty = await get('/empty')
    expect(empty.status).toBe(204)
    expect(await empty.text()).toBe('')
  })
})

describe('no route', () => {
  it('404 and 405 are problem+json with the request id as instance', async () => {
    for (const [path, method, status] of [['/nope', 'GET', 404], ['/submit', 'PUT', 405]] as const) {
      const res = await get(path, {}, method)
      expect(res.status).toBe(status)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      const id = res.headers.get('x-request-id')
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      const problem = (await res.json()) as Record<string, unknown>
      expect(problem).toMatchObject({ status, instance: id })
      expect(problem.type).toMatch(/^urn:edgeway:problem:/)
      expect(typeof problem.title).toBe('string')
      expect(typeof problem.detail).toBe('string')
    }
  })
})
