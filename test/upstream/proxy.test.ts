/** Proxying end to end against the real test origin: headers, bodies, streaming, timeouts, failures. */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { newTag, ORIGIN, originConfig, originEvents, originLog, testGateway, type Echo } from '../support/gateway'
import { manualRuntime, pollUntil } from '../support/runtime'

const gateway = testGateway(originConfig())

async function echo(path: string, init: RequestInit = {}, gw = gateway): Promise<{ res: Response; echo: Echo }> {
  const res = await gw.fetch(path, init)
  expect(res.status).toBe(200)
  return { res, echo: (await res.json()) as Echo }
}

describe('forwarding', () => {
  it('preserves method, query (as sent) and body', async () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const { echo: seen } = await echo('/echo/x?a=1&a=2&b=%20&c', { method, body: `body of ${method}` })
      expect(seen).toMatchObject({ method, url: '/echo/x?a=1&a=2&b=%20&c', body: `body of ${method}` })
    }
    const { echo: get } = await echo('/echo/y?q=%C3%A9')
    expect(get).toMatchObject({ method: 'GET', url: '/echo/y?q=%C3%A9', body: '' })
  })

  it('a HEAD is proxied as HEAD and answers without a body', async () => {
    const tag = newTag()
    const res = await gateway.fetch('/echo/head', { method: 'HEAD', headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
    expect((await originLog(tag)).map((r) => r.method)).toEqual(['HEAD'])
  })

  it('forwards end-to-end headers; the origin sees its own Host', async () => {
    const { echo: seen } = await echo('/echo/h', {
      headers: { 'x-custom': 'one', authorization: 'Bearer abc', accept: 'application/json', cookie: 'a=1', 'user-agent': 'test-agent' },
    })
    expect(seen.headers).toMatchObject({ 'x-custom': 'one', authorization: 'Bearer abc', accept: 'application/json', cookie: 'a=1', 'user-agent': 'test-agent' })
    expect(seen.headers.host).toBe(new URL(ORIGIN).host)
  })

  it('strips hop-by-hop request headers, and the ones Connection lists', async () => {
    const { echo: seen } = await echo('/echo/hop', {
      headers: {
        connection: 'keep-alive, X-Secret-Hop',
        'x-secret-hop': 'must not pass',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic c2VjcmV0',
        'proxy-connection': 'keep-alive',
        trailer: 'x-t',
        'x-kept': 'yes',
      },
    })
    for (const name of ['x-secret-hop', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'proxy-connection', 'trailer']) {
      expect(seen.headers[name], name).toBeUndefined()
    }
    expect(seen.headers.connection ?? '').not.toContain('X-Secret-Hop')
    expect(seen.headers['x-kept']).toBe('yes')
  })

  it('strips hop-by-hop response headers, and the ones Connection lists', async () => {
    const set = ['Connection: X-Origin-Hop', 'X-Origin-Hop: internal', 'Keep-Alive: timeout=5', 'Proxy-Authenticate: Basic', 'Upgrade: h2c', 'X-Origin-Kept: yes']
    const res = await gateway.fetch(`/echo/hop?${set.map((h) => `set-header=${encodeURIComponent(h)}`).join('&')}`)
    expect(res.status).toBe(200)
    for (const name of ['connection', 'x-origin-hop', 'keep-alive', 'proxy-authenticate', 'upgrade']) expect(res.headers.get(name), name).toBeNull()
    expect(res.headers.get('x-origin-kept')).toBe('yes')
  })

  it('sets X-Forwarded-* itself and drops client-sent forwarding headers', async () => {
    const forged = {
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.test',
      'x-forwarded-proto': 'http',
      'x-forwarded-port': '1',
      forwarded: 'for=6.6.6.6',
      'x-real-ip': '6.6.6.6',
    }
    const { echo: seen } = await echo('https://gw.example.com/echo/fwd', { headers: { ...forged, 'cf-connecting-ip': '203.0.113.7' } })
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(seen.headers['x-forwarded-proto']).toBe('https')
    expect(seen.headers['x-forwarded-host']).toBe('gw.example.com')
    for (const name of ['x-forwarded-port', 'forwarded', 'x-real-ip']) expect(seen.headers[name], name).toBeUndefined()
    const { echo: noIp } = await echo('/echo/fwd', { headers: forged })
    expect(noIp.headers['x-forwarded-for']).toBeUndefined()
    expect(noIp.headers['x-forwarded-proto']).toBe('http')
  })
})

describe('request id', () => {
  it('is generated, sent to the origin, returned to the client and logged; a client id is not trusted by default', async () => {
    const { res, echo: seen } = await echo('/echo/id', { headers: { 'x-request-id': 'client-chosen' } })
    const id = res.headers.get('x-request-id')
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(seen.headers['x-request-id']).toBe(id)
    expect(gateway.logs.at(-1)?.requestId).toBe(id)
  })

  it('keeps a well-formed client id when trusted, never a malformed one', async () => {
    const trusting = testGateway(originConfig({ policies: [{ type: 'request-id', header: 'X-Correlation-Id', trustIncoming: true }] }))
    const { res, echo: seen } = await echo('/echo/id', { headers: { 'x-correlation-id': 'abc-123.x:y' } }, trusting)
    expect(res.headers.get('x-correlation-id')).toBe('abc-123.x:y')
    expect(seen.headers['x-correlation-id']).toBe('abc-123.x:y')
    expect(trusting.logs.at(-1)?.requestId).toBe('abc-123.x:y')
    for (const bad of ['has space', 'x'.repeat(129), '<script>']) {
      const { res: r2 } = await echo('/echo/id', { headers: { 'x-correlation-id': bad } }, trusting)
      expect(r2.headers.get('x-correlation-id')).not.toBe(bad)
      expect(r2.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/)
    }
    const problem = await trusting.fetch('/nope', { headers: { 'x-correlation-id': 'trace-9' } })
    expect(problem.status).toBe(200) // the catch-all proxies everything: the origin answers /nope
    const notFound = await testGateway({ routes: [], policies: [{ type: 'request-id', trustIncoming: true }] }).fetch('/x', {
      headers: { 'x-request-id': 'trace-9' },
    })
    expect(notFound.headers.get('x-request-id')).toBe('trace-9')
    expect(await notFound.json()).toMatchObject({ status: 404, instance: 'trace-9' })
  })
})

describe('streaming', () => {
  it('streams both ways: the origin gets the first chunk before the client sends the last, and the client reads the first chunk before the origin ends', async () => {
    const tag = newTag()
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>()
    const writer = writable.getWriter()
    const encoder = new TextEncoder()
    const resPromise = gateway.fetch('/duplex', { method: 'POST', body: readable, headers: { 'x-test-tag': tag } })
    await writer.write(encoder.encode('first|'))
    const res = await resPromise
    expect(res.status).toBe(200)
    // Wait for the origin to receive the first chunk.
    expect(await pollUntil(() => originEvents(tag), (events) => events.includes('received-first'))).toContain('received-first')
    // The client has not sent its last chunk yet, and the origin has not ended its answer.
    expect(await originEvents(tag)).toEqual(['received-first'])
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    const first = await reader.read()
    expect(first.value).toBe('first|')
    expect(await originEvents(tag)).toEqual(['received-first'])
    await writer.write(encoder.encode('last'))
    await writer.close()
    let rest = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value
    expect(rest).toBe('last')
    expect(await originEvents(tag)).toEqual(['received-first', 'received-end'])
  })

  it('server-sent events stream through: the first event arrives while the origin holds the stream open', async () => {
    const tag = newTag()
    const res = await gateway.fetch('/sse', { headers: { 'x-test-tag': tag, accept: 'text/event-stream' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    expect(res.headers.get('cache-control')).toBe('no-cache')
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let received = ''
    // Bounded: the first event is one small chunk; the origin won't send more until released.
    for (let i = 0; i < 10 && !received.includes('\n\n'); i++) received += (await reader.read()).value ?? ''
    expect(received).toBe('id: 0\nevent: tick\ndata: {"n":0}\n\n')
    // The origin has not sent its second event, nor ended the stream.
    expect(await originEvents(tag)).toEqual(['sse-sent-0'])
    await fetch(`${ORIGIN}/_control/release?tag=${tag}`, { method: 'POST' })
    let rest = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value
    expect(rest).toBe('id: 1\nevent: tick\ndata: {"n":1}\n\n')
    expect(await originEvents(tag)).toEqual(['sse-sent-0', 'sse-end'])
  })

  it('a long stream is not cut while chunks keep coming (no total timeout)', async () => {
    const gw = testGateway(originConfig({ upstreams: { origin: { url: ORIGIN, timeouts: { headers: 250, idle: 2_000 } } } }))
    const res = await gw.fetch('/stream?chunks=6&interval=100')
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\nchunk-5\n')
  })
})

describe('timeouts and failures', () => {
  const fast: GatewayConfigInput = originConfig({ upstreams: { origin: { url: ORIGIN, timeouts: { headers: 300, idle: 300 } } } })
  const gw = testGateway(fast)

  async function problemOf(res: Response, status: number): Promise<Record<string, unknown>> {
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const text = await res.text()
    const port = new URL(ORIGIN).port
    for (const internal of ['127.0.0.1', port, 'localhost', 'Error', 'at ']) expect(text).not.toContain(internal)
    const problem = JSON.parse(text) as Record<string, unknown>
    expect(problem.instance).toBe(res.headers.get('x-request-id'))
    return problem
  }

  it('no response headers in time: 504', async () => {
    const problem = await problemOf(await gw.fetch('/hang'), 504)
    expect(problem).toMatchObject({ code: 'ERR_UPSTREAM_TIMEOUT', detail: 'The upstream did not answer in time.' })
    expect(gw.logs.at(-1)?.upstream).toMatchObject({ name: 'origin', target: ORIGIN, error: 'timeout' })
  })

  it('a route deadline shortens the header timeout', async () => {
    // A transform reads the whole JSON body before the upstream call: the client holds the body
    // back for 400 ms, so at most 300 ms of the 700 ms deadline are left, less than the 600 ms
    // header timeout. The 504 must name the deadline. The gateway's clock and timers are the
    // test's: the 400 ms and the 300 ms pass when it says, while the origin really hangs.
    const clock = manualRuntime()
    const tight = testGateway({
      upstreams: { origin: { url: ORIGIN, timeouts: { headers: 600 } } },
      routes: [
        {
          id: 'r',
          match: { path: '/*' },
          deadline: 700,
          policies: [{ type: 'transform', request: { body: { set: { seen: 'yes' } } } }],
          action: { type: 'proxy', upstream: 'origin' },
        },
      ],
    }, {}, { runtime: clock })
    let endBody!: () => void
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":1}'))
        endBody = () => controller.close()
      },
    })
    const pending = tight.fetch('/hang', { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit)
    await clock.advance(400)
    endBody()
    // The try is out, its header timeout set from what is left of the deadline: let that pass.
    await clock.until(() => clock.pendingTimers() === 1)
    expect(clock.nextTimerIn()).toBe(300)
    await clock.advance(300)
    const res = await pending
    const problem = await problemOf(res, 504)
    expect(problem).toMatchObject({ code: 'ERR_UPSTREAM_TIMEOUT', detail: "The route's deadline passed before the upstream answered." })
    expect(tight.logs.at(-1)?.upstream).toMatchObject({ name: 'origin', error: 'deadline' })
    // Without a deadline nearby, the header timeout is what answers.
    const plain = await problemOf(await gw.fetch('/hang'), 504)
    expect(plain.detail).toBe('The upstream did not answer in time.')
  })

  it('a stalled body is cut after the idle timeout', async () => {
    const res = await gw.fetch('/stream?chunks=3&stall=1')
    expect(res.status).toBe(200)
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    expect((await reader.read()).value).toBe('chunk-0\n')
    await expect(reader.read()).rejects.toThrow(/no body data from the upstream for 300 ms/)
  })

  it('connection refused: 502', async () => {
    const refused = testGateway(originConfig({ upstreams: { origin: { url: 'http://127.0.0.1:1' } } }))
    const problem = await problemOf(await refused.fetch('/echo/x'), 502)
    expect(problem).toMatchObject({ code: 'ERR_UPSTREAM_UNREACHABLE', detail: 'The upstream could not be reached.' })
    expect(refused.logs.at(-1)?.upstream).toMatchObject({ error: 'unreachable', target: 'http://127.0.0.1:1' })
  })

  it('connection reset before an answer: 502', async () => {
    await problemOf(await gw.fetch('/reset'), 502)
  })

  it('origin errors pass through as the origin sent them', async () => {
    const res = await gw.fetch('/status/503')
    expect(res.status).toBe(503)
    expect(await res.json()).toEqual({ status: 503 })
  })

  it('redirects are passed to the client, never followed', async () => {
    const tag = newTag()
    const res = await gw.fetch('/redirect', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe(`${ORIGIN}/echo/redirected`)
    expect((await originLog(tag)).map((r) => r.url)).toEqual(['/redirect'])
  })
})

describe('WebSocket', () => {
  const wsGateway = testGateway({
    upstreams: { origin: { url: ORIGIN } },
    routes: [
      { id: 'ws', match: { path: '/ws' }, action: { type: 'proxy', upstream: 'origin', websocket: true } },
      { id: 'plain', match: { path: '/ws-plain' }, action: { type: 'proxy', upstream: 'origin', path: '/ws' } },
    ],
  })

  it('echoes through a route with websocket: true', async () => {
    const res = await wsGateway.fetch('/ws', { headers: { Upgrade: 'websocket' } })
    expect(res.status).toBe(101)
    const socket = res.webSocket!
    expect(socket).toBeTruthy()
    socket.accept()
    const received: string[] = []
    const done = new Promise<void>((resolve) => {
      socket.addEventListener('message', (event) => {
        received.push(String(event.data))
        if (received.length === 2) resolve()
      })
    })
    socket.send('hello')
    socket.send('again')
    await done
    socket.close(1000, 'done')
    expect(received).toEqual(['echo:hello', 'echo:again'])
  })

  it('a route without websocket strips Upgrade: the origin gets a plain request', async () => {
    const res = await wsGateway.fetch('/ws-plain', { headers: { Upgrade: 'websocket', Connection: 'Upgrade' } })
    expect(res.status).toBe(200)
    expect(res.webSocket).toBeNull()
    const seen = (await res.json()) as Echo
    expect(seen.headers.upgrade).toBeUndefined()
  })
})
