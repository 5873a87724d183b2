// Oversized and malformed requests as raw bytes, end to end (issue 2: "huge headers, broken input,
// each with a clear error"). Two layers answer, and each test says which:
//   the gateway   its global `request-limits` policy (test/http/gateway.json: URL 4096 bytes,
//                 100 headers, 8192 bytes a header, 32768 in all) -> 414/431 problem+json
//   the runtime   workerd's HTTP server refuses what it can't parse before any worker runs:
//                 a request head over 128 KiB -> 431 text/plain "ERROR: header too large.";
//                 under wrangler dev a URL over ~64 KiB already gets that 431 (its proxy layers
//                 carry the URL in a header); bad bytes, no Host, a bad method -> 400/501/500.
// Either way nothing reaches the origin.
//
// Run: npm run test:http (or node --test test/http/limits.test.mjs)
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { rawRequest, startGateway, startRecordingOrigin, TARGETS } from './harness.mjs'

const long = (n) => '/' + 'a'.repeat(n - 1)
const headers = (count, size, prefix = 'X-H') => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, 'v'.repeat(size)]))

// The gateway's own answers: [what, request target, extra headers, problem members beyond type/title/status/instance].
const URI_TOO_LONG = { code: 'ERR_URI_TOO_LONG', detail: 'The URL is longer than 4096 bytes.', limit: 4096 }
const GATEWAY_LIMITS = [
  ['a 5,000-byte URL', long(5000), {}, URI_TOO_LONG],
  ['a 60,000-byte URL', long(60_000), {}, URI_TOO_LONG],
  ['a 9,000-byte header', '/x', { 'X-Big': 'b'.repeat(9000) }, { code: 'ERR_HEADERS_TOO_LARGE', detail: 'A header is larger than 8192 bytes.', header: 'x-big', limit: 8192 }],
  ['5 headers of 7,000 bytes', '/x', headers(5, 7000), { code: 'ERR_HEADERS_TOO_LARGE', detail: 'The request headers are larger than 32768 bytes in all.', limit: 32768 }],
  ['150 headers', '/x', headers(150, 8), { code: 'ERR_HEADERS_TOO_LARGE', detail: 'The request has more than 100 headers.', limit: 100 }],
]
const TITLES = { ERR_URI_TOO_LONG: [414, 'URI too long', 'uri-too-long'], ERR_HEADERS_TOO_LARGE: [431, 'Request header fields too large', 'headers-too-large'] }

const HEADER_TOO_LARGE = { status: 431, contentType: 'text/plain', body: 'ERROR: header too large.' }
// The runtime's own answers: [what, raw request (latin1; `TAG` is replaced), expected answer].
const RUNTIME_REFUSALS = [
  ['a 200,000-byte URL', `GET ${long(200_000)} HTTP/1.1\r\nHost: h\r\nX-Test-Tag: TAG\r\n\r\n`, HEADER_TOO_LARGE],
  ['a 200,000-byte header', `GET /x HTTP/1.1\r\nHost: h\r\nX-Test-Tag: TAG\r\nX-Big: ${'b'.repeat(200_000)}\r\n\r\n`, HEADER_TOO_LARGE],
  ['6,000 headers', `GET /x HTTP/1.1\r\nHost: h\r\nX-Test-Tag: TAG\r\n${Object.entries(headers(6000, 20)).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, HEADER_TOO_LARGE],
  ['a NUL byte in the target', 'GET /ad\x00min HTTP/1.1\r\nHost: h\r\nX-Test-Tag: TAG\r\n\r\n', { status: 400, contentType: 'text/plain', body: 'ERROR: The headers sent by your client are not valid.' }],
  ['a bare CR in a header value', 'GET /x HTTP/1.1\r\nHost: h\r\nX-Test-Tag: TAG\r\nX-A: a\rb\r\n\r\n', { status: 400, contentType: 'text/plain', body: 'ERROR: The headers sent by your client are not valid.' }],
  ['a lower-case method', 'get /x HTTP/1.1\r\nHost: h\r\nX-Test-Tag: TAG\r\n\r\n', { status: 501, contentType: 'text/plain', body: 'ERROR: Unrecognized request method.' }],
  ['HTTP/1.1 without Host', 'GET /x HTTP/1.1\r\nX-Test-Tag: TAG\r\nConnection: close\r\n\r\n', { status: 400, contentType: undefined, body: 'Bad Request' }],
  ['HTTP/1.0 without Host', 'GET /x HTTP/1.0\r\nX-Test-Tag: TAG\r\n\r\n', { status: 400, contentType: undefined, body: 'Bad Request' }],
  ['two Host headers', 'GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\nX-Test-Tag: TAG\r\nConnection: close\r\n\r\n', { status: 500, contentType: undefined, body: 'Internal Server Error' }],
  ['a Host with a path', 'GET /x HTTP/1.1\r\nHost: 127.0.0.1/admin/..\r\nX-Test-Tag: TAG\r\nConnection: close\r\n\r\n', { status: 500, contentType: undefined, body: 'Internal Server Error' }],
]

const origin = await startRecordingOrigin()
after(() => origin.close())

for (const target of TARGETS) {
  describe(`oversized and malformed requests through ${target}`, () => {
    let gateway
    before(async () => {
      gateway = await startGateway(target, origin.url)
    })
    after(() => gateway?.stop())

    it('just under the limits: a 4,000-byte URL, an 8,000-byte header and 60 headers pass untouched', async () => {
      const tag = randomUUID()
      const path = long(4000)
      const res = await gateway.get(path, { 'X-Test-Tag': tag, 'X-Big': 'b'.repeat(8000), ...headers(60, 8) })
      assert.equal(res.status, 200)
      const [seen, ...more] = origin.tagged(tag)
      assert.deepEqual({ url: seen.url, big: seen.headers['x-big'].length, h59: seen.headers['x-h59'], more }, { url: path, big: 8000, h59: 'v'.repeat(8), more: [] })
    })

    for (const [what, requestTarget, extra, problem] of GATEWAY_LIMITS) {
      it(`${what}: the gateway answers ${TITLES[problem.code][0]} problem+json`, async () => {
        const tag = randomUUID()
        const res = await gateway.get(requestTarget, { 'X-Test-Tag': tag, ...extra })
        const [status, title, slug] = TITLES[problem.code]
        assert.equal(res.status, status)
        assert.equal(res.headers['content-type'], 'application/problem+json')
        assert.deepEqual(JSON.parse(res.body), { type: `urn:edgeway:problem:${slug}`, title, status, instance: res.headers['x-request-id'], ...problem })
        assert.deepEqual(origin.tagged(tag), [])
      })
    }

    // Between ~64 KiB and 128 KiB of URL the two differ: wrangler dev's layers refuse it first.
    it('a 100,000-byte URL', async () => {
      const tag = randomUUID()
      const res = await gateway.get(long(100_000), { 'X-Test-Tag': tag })
      if (target === 'wrangler dev') {
        assert.deepEqual({ status: res.status, type: res.headers['content-type'], body: res.body }, { status: 431, type: 'text/plain', body: 'ERROR: header too large.' })
      } else {
        assert.equal(res.status, 414)
        assert.equal(JSON.parse(res.body).code, 'ERR_URI_TOO_LONG')
      }
      assert.deepEqual(origin.tagged(tag), [])
    })

    for (const [what, raw, expected] of RUNTIME_REFUSALS) {
      it(`${what}: the runtime answers ${expected.status} before the gateway runs`, async () => {
        const tag = randomUUID()
        const res = await rawRequest(gateway.port, Buffer.from(raw.replace('TAG', tag), 'latin1'))
        assert.deepEqual(
          { status: res.status, contentType: res.headers['content-type'], body: res.body, requestId: res.headers['x-request-id'] },
          { ...expected, requestId: undefined },
        )
        assert.deepEqual(origin.tagged(tag), [])
      })
    }

    it('the gateway still serves normally afterwards', async () => {
      const res = await gateway.get('/after', {})
      assert.deepEqual({ status: res.status, body: JSON.parse(res.body) }, { status: 200, body: { url: '/after' } })
    })
  })
}
