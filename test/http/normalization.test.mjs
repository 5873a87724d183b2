// Path normalisation attacks with the raw bytes a real client can send (issue 2), end to end:
// raw socket -> runtime -> gateway (test/http/gateway.json) -> recording origin on 127.0.0.1.
// For each trick: the status, which route answered (`X-Route`), and the exact request target the
// origin received, or that it received nothing. The protected `/admin` tree (a fixed 403) must
// never be reached at the origin, and `/private/*` only through its route (which marks what it
// forwards with `X-Checked: private-route`; a forged one from the client is removed elsewhere).
//
// Run: npm run test:http (or node --test test/http/normalization.test.mjs)
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startGateway, startRecordingOrigin, TARGETS } from './harness.mjs'

const denied = { status: 403, route: 'admin' }
const team = { status: 403, route: 'team' }
const badPath = (detail) => ({ status: 400, detail })
const proxied = (route, origin) => ({ status: 200, route, origin })
const ENCODED_SLASH = 'The path contains an encoded slash or backslash.'
const BACKSLASH = 'The path contains a backslash.'
const MATRIX = 'The path contains ";" (matrix parameters are not accepted).'
const CONTROL = 'The path contains an encoded control character.'
const UTF8 = 'The path contains percent-escapes that are not valid UTF-8.'

// [request target as sent (latin1 bytes), expected outcome, or { 'wrangler dev': ..., 'workerd serve': ... }
// where the runtime in front of the gateway changes the target first].
const ATTACKS = [
  // Encoded slash / backslash: never decoded into a separator, refused.
  ['/public/..%2fadmin', badPath(ENCODED_SLASH)],
  ['/public/..%2Fadmin/x', badPath(ENCODED_SLASH)],
  ['/public/%2e%2e%2fadmin', badPath(ENCODED_SLASH)],
  ['/public/..%5cadmin', badPath(ENCODED_SLASH)],
  ['/public/x/..%5C..%5Cadmin', badPath(ENCODED_SLASH)],
  ['/admin%2F', badPath(ENCODED_SLASH)],
  // Encoded dot segments, any case: resolved before matching, so they land on the protected route.
  ['/public/%2e%2e/admin', denied],
  ['/public/.%2e/admin', denied],
  ['/public/%2e./admin/x', denied],
  ['/PUBLIC/%2E%2e/admin', denied],
  ['/public/%2E%2E/%2E%2E/admin', denied],
  ['/private/%2e%2e/admin/x', denied],
  ['/public/../admin', denied],
  // Raw backslash: wrangler dev's URL re-parse turns it into "/" (then the dot segments resolve);
  // the bare runtime hands it to the gateway, which refuses it.
  ['/a/b\\..\\admin', { 'wrangler dev': proxied('public', '/a/admin'), 'workerd serve': badPath(BACKSLASH) }],
  ['/a/b\\..\\..\\admin', { 'wrangler dev': denied, 'workerd serve': badPath(BACKSLASH) }],
  ['/public\\admin', { 'wrangler dev': proxied('public', '/public/admin'), 'workerd serve': badPath(BACKSLASH) }],
  // Double encoding: decoded exactly once, so %252f stays the text "%2f" and never a separator.
  ['/public/%252f', proxied('public', '/public/%252f')],
  ['/public/..%252fadmin', proxied('public', '/public/..%252fadmin')],
  ['/public/%25%32%65%25%32%65/admin', proxied('public', '/public/%252e%252e/admin')],
  // Matrix parameters: refused; a literal ".." after one is resolved by the runtime first.
  ['/admin;x', badPath(MATRIX)],
  ['/public/..;/admin', badPath(MATRIX)],
  ['/public;x/../admin', denied],
  ['/public/%2e%2e%3b/admin', proxied('public', '/public/..%3B/admin')],
  // NUL and control characters.
  ['/%00', badPath(CONTROL)],
  ['/admin%00', badPath(CONTROL)],
  ['/public/%00/admin', badPath(CONTROL)],
  ['/public/%0d%0aX-Injected:%201', badPath(CONTROL)],
  // Overlong UTF-8 (`%c0%ae` is a disguised ".", `%c0%af` a disguised "/"): refused; raw bytes
  // that aren't UTF-8 become U+FFFD (percent-encoded) in the runtime, which match nothing.
  ['/%c0%ae%c0%ae/admin', badPath(UTF8)],
  ['/public/%c0%ae%c0%ae/admin', badPath(UTF8)],
  ['/public/..%c0%afadmin', badPath(UTF8)],
  ['/public/..%e0%80%afadmin', badPath(UTF8)],
  ['/\xc0\xae\xc0\xae/admin', proxied('public', '/%EF%BF%BD%EF%BF%BD%EF%BF%BD%EF%BF%BD/admin')],
  // Empty segments and encoded unreserved characters.
  ['//admin', denied],
  ['//admin//x', denied],
  ['/%61dmin', denied],
  ['/%61%64%6D%69%6E/x', denied],
  // A protected route written with a non-ASCII path (`/équipe/*`): every spelling of it reaches it.
  ['/%C3%A9quipe/x', team],
  ['/%c3%a9quipe/x', team],
  ['/\xc3\xa9quipe/x', team],
  ['/public/%2e%2e/%C3%A9quipe/x', team],
  // Characters RFC 3986 doesn't allow raw in a path are routed in the encoded form the origin gets.
  ['/public/a"b<c>', proxied('public', '/public/a%22b%3Cc%3E')],
  ['/public/a%22b%3cc%3e', proxied('public', '/public/a%22b%3Cc%3E')],
  // The private route, reached through tricks: only ever through its own policy.
  ['/public/%2e%2e/private/x', proxied('private', '/private/x')],
  ['//private//x', proxied('private', '/private/x')],
  ['/%70rivate/x', proxied('private', '/private/x')],
  // What passes, exactly as the origin gets it (query untouched; unreserved escapes decoded,
  // others upper-cased; case-sensitive paths: /ADMIN is not the protected /admin).
  ['/a/./b/../c/', proxied('public', '/a/c/')],
  ['/caf%c3%a9/%7e?q=..%2f&x=%2e%2e', proxied('public', '/caf%C3%A9/~?q=..%2f&x=%2e%2e')],
  ['/admin%3Fx', proxied('public', '/admin%3Fx')],
  ['/ADMIN', proxied('public', '/ADMIN')],
]

/**
 * The path the most lenient single-decoding origin would serve: each segment decoded once, an
 * encoded "/" or "\" taken as a separator, dot segments resolved, empty segments dropped.
 */
function originView(target) {
  const out = []
  for (const raw of target.split('?')[0].split(/[/\\]/)) {
    let decoded = raw
    try {
      decoded = decodeURIComponent(raw)
    } catch {}
    for (const segment of decoded.split(/[/\\]/)) {
      if (segment === '..') out.pop()
      else if (segment !== '.' && segment !== '') out.push(segment)
    }
  }
  return out
}

/** No request reached the origin under /admin, and /private only with its route's mark. */
function assertOriginSafe(requests) {
  for (const request of requests) {
    assert.equal(request.parseError, undefined, `the origin refused a request: ${JSON.stringify(request)}`)
    const [first] = originView(request.url)
    assert.ok(first !== 'admin' && first !== 'équipe', `the origin received ${request.url}`)
    if (first === 'private') assert.equal(request.headers['x-checked'], 'private-route', `${request.url} skipped the private route`)
    else assert.equal(request.headers['x-checked'], undefined, `${request.url} kept a forged X-Checked`)
  }
}

/** A request target for a test name: raw bytes above 0x7F as `\xNN`. */
const shown = (requestTarget) => JSON.stringify(requestTarget).replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`)

const origin = await startRecordingOrigin()
after(() => origin.close())

for (const target of TARGETS) {
  describe(`path tricks through ${target}`, () => {
    let gateway
    before(async () => {
      gateway = await startGateway(target, origin.url)
    })
    after(() => gateway?.stop())

    for (const [requestTarget, outcome] of ATTACKS) {
      const expected = outcome[target] ?? outcome
      it(`GET ${shown(requestTarget)} -> ${expected.status}${expected.route ? ` via ${expected.route}` : ''}`, async () => {
        const tag = randomUUID()
        const res = await gateway.get(requestTarget, { 'X-Test-Tag': tag, 'X-Checked': 'forged' })
        const seen = origin.tagged(tag)
        assertOriginSafe(seen)
        assert.deepEqual(
          { status: res.status, route: res.headers['x-route'], origin: seen.map((r) => r.url) },
          { status: expected.status, route: expected.route, origin: expected.origin ? [expected.origin] : [] },
        )
        if (expected.status === 403) assert.equal(res.body, 'protected')
        if (expected.origin) assert.deepEqual(JSON.parse(res.body), { url: expected.origin })
        if (expected.status === 400) {
          assert.equal(res.headers['content-type'], 'application/problem+json')
          assert.deepEqual(JSON.parse(res.body), {
            type: 'urn:edgeway:problem:bad-request-path',
            title: 'Bad request path',
            status: 400,
            detail: expected.detail,
            instance: res.headers['x-request-id'],
            code: 'ERR_BAD_REQUEST_PATH',
          })
        }
      })
    }

    // Absolute-form (`GET http://host/path`), asterisk-form and relative targets: the runtime's
    // HTTP server can't build a request URL from them and answers a bare 500 itself; the gateway
    // never runs, and nothing reaches the origin.
    for (const requestTarget of [`http://127.0.0.1/..%2fadmin`, 'http://127.0.0.1/public/../admin', 'http://evil.test/admin', '*', 'admin']) {
      it(`GET ${shown(requestTarget)} is refused by the runtime before the gateway`, async () => {
        const tag = randomUUID()
        const res = await gateway.get(requestTarget, { 'X-Test-Tag': tag })
        assert.deepEqual({ status: res.status, body: res.body, route: res.headers['x-route'], requestId: res.headers['x-request-id'] }, { status: 500, body: 'Internal Server Error', route: undefined, requestId: undefined })
        assert.deepEqual(origin.tagged(tag), [])
      })
    }

    it('nothing that reached the origin in this run was under /admin; /private only through its route', () => {
      assert.ok(origin.seen.length > 10)
      assertOriginSafe(origin.seen)
    })
  })
}
