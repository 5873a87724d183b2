/** `request-limits`: every limit at exactly the limit and one above. */
import { describe, expect, it } from 'vitest'
import { newTag, originConfig, originLog, testGateway, type Echo } from '../support/gateway'

function gateway(limits: Record<string, unknown>) {
  return testGateway(originConfig({ policies: [{ type: 'request-limits', ...limits } as never] }))
}

async function problem(res: Response): Promise<{ status: number; code: string; detail: string }> {
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  return res.json()
}

function streamOf(size: number, chunk = 1000): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close()
      const n = Math.min(chunk, size - sent)
      controller.enqueue(new Uint8Array(n).fill(97))
      sent += n
    },
  })
}

describe('request-limits', () => {
  it('body with Content-Length: exactly the limit passes, one byte more is 413', async () => {
    const gw = gateway({ maxBodyBytes: 100 })
    const ok = await gw.fetch('/echo/b', { method: 'POST', body: 'a'.repeat(100) })
    expect(((await ok.json()) as Echo).body).toHaveLength(100)
    const over = await gw.fetch('/echo/b', { method: 'POST', body: 'a'.repeat(101) })
    expect(over.status).toBe(413)
    expect((await problem(over)).code).toBe('ERR_PAYLOAD_TOO_LARGE')
  })

  it('streamed body without Content-Length: counted on the way, 413 past the limit', async () => {
    const gw = gateway({ maxBodyBytes: 5000 })
    const ok = await gw.fetch('/echo/s', { method: 'POST', body: streamOf(5000) })
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as Echo).body).toHaveLength(5000)
    const tag = newTag()
    const over = await gw.fetch('/echo/s', { method: 'POST', body: streamOf(5001), headers: { 'x-test-tag': tag } })
    expect(over.status).toBe(413)
    expect((await problem(over)).code).toBe('ERR_PAYLOAD_TOO_LARGE')
    // Way past the limit: still 413, and the origin never got a whole body to answer.
    const huge = await gw.fetch('/echo/s', { method: 'POST', body: streamOf(10_000_000, 65536) })
    expect(huge.status).toBe(413)
    expect((await originLog(tag)).length).toBeLessThanOrEqual(1)
  })

  it('URL length: path and query up to the limit pass, one more is 414', async () => {
    const gw = gateway({ maxUrlLength: 40 })
    const base = '/echo/u?q='
    const exact = base + 'x'.repeat(40 - base.length)
    expect(exact.length).toBe(40)
    expect((await gw.fetch(exact)).status).toBe(200)
    const over = await gw.fetch(exact + 'x')
    expect(over.status).toBe(414)
    expect((await problem(over)).code).toBe('ERR_URI_TOO_LONG')
  })

  it('method allow-list: 405 with Allow; GET brings HEAD', async () => {
    const gw = gateway({ methods: ['GET', 'POST'] })
    expect((await gw.fetch('/echo/m')).status).toBe(200)
    expect((await gw.fetch('/echo/m', { method: 'HEAD' })).status).toBe(200)
    const res = await gw.fetch('/echo/m', { method: 'DELETE' })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('GET, POST, HEAD')
    expect((await problem(res)).code).toBe('ERR_METHOD_NOT_ALLOWED')
  })

  it('header count: exactly maxCount passes, one more is 431', async () => {
    const gw = gateway({ headers: { maxCount: 3 } })
    const three = { a: '1', b: '2', c: '3' }
    expect((await gw.fetch('/echo/h', { headers: three })).status).toBe(200)
    const res = await gw.fetch('/echo/h', { headers: { ...three, d: '4' } })
    expect(res.status).toBe(431)
    expect((await problem(res)).code).toBe('ERR_HEADERS_TOO_LARGE')
  })

  it('total header bytes (names plus values): at the limit passes, one more is 431', async () => {
    const gw = gateway({ headers: { maxTotalBytes: 20 } })
    expect((await gw.fetch('/echo/h', { headers: { aa: 'x'.repeat(8), bb: 'y'.repeat(8) } })).status).toBe(200)
    expect((await gw.fetch('/echo/h', { headers: { aa: 'x'.repeat(8), bb: 'y'.repeat(9) } })).status).toBe(431)
  })

  it('single header bytes: at the limit passes, one more is 431 (and says which)', async () => {
    const gw = gateway({ headers: { maxFieldBytes: 16 } })
    expect((await gw.fetch('/echo/h', { headers: { 'x-long': 'v'.repeat(10) } })).status).toBe(200)
    const res = await gw.fetch('/echo/h', { headers: { 'x-long': 'v'.repeat(11) } })
    expect(res.status).toBe(431)
    expect(((await res.json()) as { header: string }).header).toBe('x-long')
    // A huge header is refused the same way, not a crash.
    expect((await gw.fetch('/echo/h', { headers: { 'x-huge': 'v'.repeat(12_000) } })).status).toBe(431)
  })

  it('required headers: 400 naming the missing one', async () => {
    const gw = gateway({ requiredHeaders: ['X-Client', 'X-Version'] })
    expect((await gw.fetch('/echo/r', { headers: { 'x-client': 'a', 'x-version': '1' } })).status).toBe(200)
    const res = await gw.fetch('/echo/r', { headers: { 'x-client': 'a' } })
    expect(res.status).toBe(400)
    expect((await problem(res)).detail).toBe('The request must carry a "X-Version" header.')
  })

  it('as a route policy, limits only that route', async () => {
    const gw = testGateway(
      originConfig({
        routes: [
          { id: 'small', match: { path: '/echo/small' }, policies: [{ type: 'request-limits', maxBodyBytes: 10 }], action: { type: 'proxy', upstream: 'origin' } },
          { id: 'rest', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } },
        ],
      }),
    )
    expect((await gw.fetch('/echo/small', { method: 'POST', body: streamOf(11) })).status).toBe(413)
    expect((await gw.fetch('/echo/big', { method: 'POST', body: streamOf(11) })).status).toBe(200)
  })

  it('a transform reading a streamed body stops at the limit too (413, not a parse of a cut body)', async () => {
    const gw = testGateway(
      originConfig({
        policies: [{ type: 'request-limits', maxBodyBytes: 10 }],
        routes: [{ id: 'r', match: { path: '/*' }, policies: [{ type: 'transform', request: { body: { wrap: 'd' } } }], action: { type: 'proxy', upstream: 'origin' } }],
      }),
    )
    const body = (text: string) => new Response(text).body!
    const over = await gw.fetch('/echo/t', { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('{"a":"xxxx"}') })
    expect(over.status).toBe(413)
    const ok = await gw.fetch('/echo/t', { method: 'POST', headers: { 'content-type': 'application/json' }, body: body('{"a":"xx"}') })
    expect(((await ok.json()) as Echo).body).toBe('{"d":{"a":"xx"}}')
  })
})
