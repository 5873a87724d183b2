/** `transform` (and the shared header edits of `headers`) against the real echo origin. */
import { describe, expect, it } from 'vitest'
import { policyGateway, testGateway, TO_ORIGIN, type Echo } from '../support/gateway'

/** Route `r` (`/items/:id`) with the `transform` policy, proxying to the origin's `/echo/items/{id}`. */
const gateway = (transform: Record<string, unknown>) =>
  policyGateway('transform', transform, { match: { path: '/items/:id' }, action: { ...TO_ORIGIN, path: '/echo/items/{params.id}' } })

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

function streamOf(text: string, chunk = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(at, at + chunk))
      at += chunk
    },
  })
}

describe('transform: headers', () => {
  it('renames, removes, sets and adds request headers from templates', async () => {
    const gw = gateway({
      request: {
        headers: {
          rename: { 'X-Old': 'X-New' },
          remove: ['X-Secret'],
          set: { 'X-Item': '{params.id}', 'X-Page': '{query.page|1}', 'X-Ip': '{request.ip}', 'X-Rid': '{request.id}', 'X-At': '{request.time}' },
          add: { 'X-Tag': 'gw' },
        },
      },
    })
    const res = await gw.fetch('/items/42?page=3', { headers: { 'x-old': 'moved', 'x-secret': 's', 'x-tag': 'client', 'cf-connecting-ip': '203.0.113.9' } })
    const echo = (await res.json()) as Echo
    expect(echo.headers['x-new']).toBe('moved')
    expect(echo.headers['x-old']).toBeUndefined()
    expect(echo.headers['x-secret']).toBeUndefined()
    expect(echo.headers['x-item']).toBe('42')
    expect(echo.headers['x-page']).toBe('3')
    expect(echo.headers['x-ip']).toBe('203.0.113.9')
    expect(echo.headers['x-rid']).toBe(res.headers.get('x-request-id'))
    expect(Date.parse(echo.headers['x-at']!)).not.toBeNaN()
    expect(echo.headers['x-tag']).toBe('client, gw')
  })

  it('edits response headers, including renaming every Set-Cookie', async () => {
    const gw = policyGateway('headers', { response: { rename: { 'Content-Type': 'X-Origin-Type' }, set: { 'X-Served-By': 'edgeway' } } })
    const res = await gw.fetch('/echo/x')
    expect(res.headers.get('x-origin-type')).toBe('application/json')
    expect(res.headers.get('content-type')).toBeNull()
    expect(res.headers.get('x-served-by')).toBe('edgeway')
  })

  it('renders every request value, on the request and on the response alike', async () => {
    const request = { method: '{request.method}', host: '{request.host}', search: '{request.search}', path: '{request.path}', at: '{request.time}', ip: '{request.ip}', query: '{query.b}' }
    const header = (set: Record<string, string>) => Object.fromEntries(Object.entries(set).map(([k, v]) => [`X-${k}`, v]))
    const gw = policyGateway('headers', { request: { set: header(request) }, response: { set: header(request) } })
    const res = await gw.fetch('/echo/x?b=2', { headers: { 'cf-connecting-ip': '203.0.113.9' } })
    const echo = (await res.json()) as Echo
    for (const read of [(name: string) => echo.headers[`x-${name}`], (name: string) => res.headers.get(`x-${name}`)]) {
      expect(read('method')).toBe('GET')
      expect(read('host')).toBe('gateway.test')
      expect(read('search')).toBe('?b=2')
      expect(read('path')).toBe('/echo/x')
      expect(read('ip')).toBe('203.0.113.9')
      expect(read('query')).toBe('2')
      expect(new Date(read('at')!).toISOString()).toBe(read('at'))
    }
    // The request's time, read once: the response says what the request said.
    expect(res.headers.get('x-at')).toBe(echo.headers['x-at'])
  })

  it('renders a missing template value as its fallback or as empty, never an error', async () => {
    const gw = gateway({ request: { headers: { set: { 'X-None': '{headers.x-missing}', 'X-Fallback': '{claims.sub|anonymous}' } } } })
    const res = await gw.fetch('/items/1')
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.headers['x-none']).toBe('')
    expect(echo.headers['x-fallback']).toBe('anonymous')
  })
})

describe('transform: query and path', () => {
  it('renames, removes, sets and adds query parameters', async () => {
    const gw = gateway({ request: { query: { rename: { q: 'search' }, remove: ['debug'], set: { page: '{query.page|1}', v: '2' }, add: { tag: '{params.id}' } } } })
    const echo = (await (await gw.fetch('/items/7?q=shoes&q=red&debug=1&v=1&tag=a')).json()) as Echo
    const sent = new URL(echo.url, 'http://x').searchParams
    expect(sent.getAll('search')).toEqual(['shoes', 'red'])
    expect(sent.has('q')).toBe(false)
    expect(sent.has('debug')).toBe(false)
    expect(sent.get('page')).toBe('1')
    expect(sent.getAll('v')).toEqual(['2'])
    expect(sent.getAll('tag')).toEqual(['a', '7'])
  })

  it('leaves a query it does not change byte for byte', async () => {
    const gw = gateway({ request: { query: { remove: ['absent'], rename: { nothere: 'x' } } } })
    const echo = (await (await gw.fetch('/items/7?a=%20b&c=d+e')).json()) as Echo
    expect(echo.url).toBe('/echo/items/7?a=%20b&c=d+e')
  })

  it('sets a missing query template value to empty', async () => {
    const gw = gateway({ request: { query: { set: { user: '{headers.x-user}' } } } })
    const echo = (await (await gw.fetch('/items/7')).json()) as Echo
    expect(echo.url).toBe('/echo/items/7?user=')
  })

  it('rewrites the path with the proxy action\'s template engine and encoding', async () => {
    const gw = policyGateway('transform', { request: { path: '/echo/v2/{params.name}/{query.kind|all}' } }, { match: { path: '/api/:name' } })
    const echo = (await (await gw.fetch('/api/caf%C3%A9?kind=a/b')).json()) as Echo
    // The query value is one segment: its "/" can't add one.
    expect(echo.path).toBe('/echo/v2/caf%C3%A9/a%2Fb')
  })
})

describe('transform: JSON request body', () => {
  it('unwraps, renames (through arrays), removes, sets and wraps', async () => {
    const gw = gateway({
      request: {
        body: {
          unwrap: 'payload',
          rename: { 'items[].id': 'items[].sku', 'user.name': 'customer' },
          remove: ['user.password', 'items[].internal'],
          set: { 'meta.item': '{params.id}', 'meta.count': '{body.items[-1].qty}', 'meta.source': 'edge', 'meta.none': '{headers.x-missing}' },
          wrap: 'data',
        },
      },
    })
    const res = await gw.fetch(
      '/items/9',
      json({ payload: { user: { name: 'Ada', password: 'p' }, items: [{ id: 'a', qty: 1, internal: true }, { id: 'b', qty: 5 }] } }),
    )
    const echo = (await res.json()) as Echo
    expect(JSON.parse(echo.body)).toEqual({
      data: {
        user: {},
        customer: 'Ada',
        items: [{ sku: 'a', qty: 1 }, { sku: 'b', qty: 5 }],
        meta: { item: '9', count: 5, source: 'edge' },
      },
    })
    expect(Number(echo.headers['content-length'])).toBe(new TextEncoder().encode(echo.body).byteLength)
  })

  it('passes a non-JSON body and a JSON type with a broken body through untouched', async () => {
    const gw = gateway({ request: { body: { wrap: 'data' } } })
    const text = (await (await gw.fetch('/items/1', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"a":1}' })).json()) as Echo
    expect(text.body).toBe('{"a":1}')
    const broken = await gw.fetch('/items/1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' })
    expect(broken.status).toBe(200)
    expect(((await broken.json()) as Echo).body).toBe('{"a":')
  })

  it('edits a body of exactly maxBodyBytes and streams a bigger one through untouched', async () => {
    const gw = gateway({ maxBodyBytes: 20, request: { body: { wrap: 'd' } } })
    const exact = '{"k":"' + 'x'.repeat(12) + '"}' // 20 bytes
    expect(exact.length).toBe(20)
    expect(((await (await gw.fetch('/items/1', json(JSON.parse(exact)))).json()) as Echo).body).toBe(`{"d":${exact}}`)
    const over = '{"k":"' + 'x'.repeat(13) + '"}'
    expect(((await (await gw.fetch('/items/1', json(JSON.parse(over)))).json()) as Echo).body).toBe(over)
    // Without Content-Length (chunked), read up to the limit, then replayed whole.
    const chunked = await gw.fetch('/items/1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamOf(over) })
    expect(((await chunked.json()) as Echo).body).toBe(over)
    const chunkedExact = await gw.fetch('/items/1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamOf(exact) })
    expect(((await chunkedExact.json()) as Echo).body).toBe(`{"d":${exact}}`)
  })

  it('rejects an oversized JSON body with 413 when the route says so', async () => {
    const gw = gateway({ maxBodyBytes: 20, oversizedRequest: 'reject', request: { body: { wrap: 'd' } } })
    const over = '{"k":"' + 'x'.repeat(13) + '"}'
    for (const body of [over, streamOf(over)]) {
      const res = await gw.fetch('/items/1', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      expect(res.status).toBe(413)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(((await res.json()) as { code: string }).code).toBe('ERR_PAYLOAD_TOO_LARGE')
    }
    // Not JSON: not this policy's business, so not rejected.
    const text = await gw.fetch('/items/1', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: over })
    expect(text.status).toBe(200)
  })
})

describe('transform: response', () => {
  it('edits a JSON response body and drops the origin\'s ETag and length', async () => {
    const gw = gateway({ response: { body: { unwrap: 'query', rename: { a: 'alpha' }, set: { served: '{request.method}' } } } })
    const res = await gw.fetch('/items/1?a=1&b=2')
    expect(await res.json()).toEqual({ alpha: '1', b: '2', served: 'GET' })
    expect(res.headers.get('etag')).toBeNull()
  })

  it('edits response headers: rename, remove, set and add, with templates', async () => {
    const gw = gateway({
      response: {
        headers: {
          rename: { 'X-Origin-Id': 'X-Item-Id' },
          remove: ['X-Internal'],
          set: { 'X-Served-For': '{params.id}' },
          add: { 'X-Trail': 'gateway' },
        },
      },
    })
    const h = (name: string, value: string) => `h=${encodeURIComponent(`${name}:${value}`)}`
    const res = await gw.fetch(`/items/7?${h('X-Origin-Id', 'o-7')}&${h('X-Internal', 'secret')}&${h('X-Trail', 'origin')}`)
    expect(res.status).toBe(200)
    expect(res.headers.get('x-item-id')).toBe('o-7')
    expect(res.headers.get('x-origin-id')).toBeNull()
    expect(res.headers.get('x-internal')).toBeNull()
    expect(res.headers.get('x-served-for')).toBe('7')
    expect(res.headers.get('x-trail')).toBe('origin, gateway')
  })

  it('maps status codes, and to 204 without a body', async () => {
    const gw = policyGateway('transform', { response: { status: { '404': 200, '201': 204 } } })
    const mapped = await gw.fetch('/status/404')
    expect(mapped.status).toBe(200)
    expect(await mapped.json()).toEqual({ status: 404 })
    const empty = await gw.fetch('/echo/x?status=201')
    expect(empty.status).toBe(204)
    expect(await empty.text()).toBe('')
    expect((await gw.fetch('/status/500')).status).toBe(500)
  })

  it('passes an oversized or non-JSON response through untouched', async () => {
    const gw = gateway({ maxBodyBytes: 50, response: { body: { wrap: 'd' } } })
    const big = await gw.fetch('/items/1?pad=' + 'x'.repeat(100))
    expect(((await big.json()) as Echo).query.pad).toHaveLength(100)
    const text = await gw.fetch('/items/1?body=hello')
    expect(await text.text()).toBe('hello')
  })

  it('leaves the gateway\'s own errors alone', async () => {
    const gw = testGateway({
      upstreams: { dead: { url: 'http://127.0.0.1:1' } },
      routes: [{ id: 'r', match: { path: '/*' }, policies: [{ type: 'transform', response: { status: { '502': 200 }, body: { wrap: 'd' } } }], action: { type: 'proxy', upstream: 'dead' } }],
    })
    const res = await gw.fetch('/x')
    expect(res.status).toBe(502)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_UPSTREAM_UNREACHABLE')
  })
})
