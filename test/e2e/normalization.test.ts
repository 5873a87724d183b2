/**
 * Path normalisation attacks end to end: a public catch-all in front of the test origin, and
 * protected routes (a fixed 403, and one whose policy marks what it forwards). No trick may reach
 * the origin with a protected path without the protected route's policy having run.
 */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { newTag, ORIGIN, originLog, testGateway, type Echo } from '../support/gateway'

const gateway = testGateway({
  upstreams: { origin: { url: ORIGIN } },
  routes: [
    { id: 'admin', match: { path: '/echo/admin/*' }, action: { type: 'respond', status: 403, body: 'protected' } },
    {
      id: 'private',
      match: { path: '/echo/private/*' },
      policies: [{ type: 'headers', request: { set: { 'X-Checked': 'private-route' } } }],
      action: { type: 'proxy', upstream: 'origin' },
    },
    {
      id: 'public',
      match: { path: '/*' },
      policies: [{ type: 'headers', request: { remove: ['X-Checked'] } }],
      action: { type: 'proxy', upstream: 'origin' },
    },
  ],
})

type Outcome = { status: number; route: string | undefined; originPaths: string[]; body: string }

async function attempt(path: string): Promise<Outcome> {
  const tag = newTag()
  const res = await gateway.fetch(path, { headers: { 'x-test-tag': tag, 'x-checked': 'forged' } })
  const body = await res.text()
  const seen = await originLog(tag)
  // Whatever reached the origin under a protected prefix must carry the private route's mark.
  for (const request of seen) {
    const decoded = decodeURIComponent(request.url.split('?')[0]!).toLowerCase()
    expect(decoded.replace(/\/+/g, '/').startsWith('/echo/admin')).toBe(false)
    if (/^\/+echo\/+private(\/|$)/.test(decoded)) expect(request.headers['x-checked']).toBe('private-route')
    else expect(request.headers['x-checked']).toBeUndefined()
  }
  return { status: res.status, route: gateway.logs.at(-1)?.routeId, originPaths: seen.map((r) => r.url), body }
}

describe('normalisation attacks through the gateway', () => {
  // Each row: request path -> [status, route that answered (undefined: rejected before routing), path the origin got].
  it.each<[string, number, string | undefined, string[]]>([
    ['/echo/public/%2e%2e/admin/x', 403, 'admin', []],
    ['/echo/public/.%2e/admin/x', 403, 'admin', []],
    ['/echo/public/%2E%2e/admin/x', 403, 'admin', []],
    ['/echo/public/..%2fadmin/x', 400, undefined, []],
    ['/echo/public/..%2Fadmin/x', 400, undefined, []],
    ['/echo/public/%2e%2e%2fadmin/x', 400, undefined, []],
    ['/echo/public/..%5cadmin/x', 400, undefined, []],
    ['/echo/public/..\\admin/x', 403, 'admin', []],
    ['/echo/public/..%252fadmin/x', 200, 'public', ['/echo/public/..%252fadmin/x']],
    ['/echo/admin;x=1/y', 400, undefined, []],
    ['/echo/public/..;/admin/x', 400, undefined, []],
    ['/echo/admin%00/x', 400, undefined, []],
    // The URL parser drops the `%00` segment with the `..` before the gateway sees it.
    ['/echo/public/%00/../admin/x', 200, 'public', ['/echo/public/admin/x']],
    ['/echo/public/%00/admin/x', 400, undefined, []],
    ['/echo/public/%c0%ae%c0%ae/admin/x', 400, undefined, []],
    ['/echo/public/%c0%afadmin/x', 400, undefined, []],
    ['//echo//admin//x', 403, 'admin', []],
    ['/echo//admin/x', 403, 'admin', []],
    ['/echo/%61dmin/x', 403, 'admin', []],
    ['/echo/%61%64%6D%69%6E/x', 403, 'admin', []],
    ['/echo/public/%2e%2e/private/x', 200, 'private', ['/echo/private/x']],
    ['/echo/public/..%2fprivate/x', 400, undefined, []],
    ['//echo//private//x', 200, 'private', ['/echo/private/x']],
    ['/echo/%70rivate/x', 200, 'private', ['/echo/private/x']],
    ['/echo/caf%c3%a9/%7e', 200, 'public', ['/echo/caf%C3%A9/~']],
    ['/echo/a/./b/../c/', 200, 'public', ['/echo/a/c/']],
  ])('%s -> %i via %s', async (path, status, route, originPaths) => {
    const outcome = await attempt(path)
    expect({ status: outcome.status, route: outcome.route, originPaths: outcome.originPaths }).toEqual({ status, route, originPaths })
    if (status === 400) expect(JSON.parse(outcome.body)).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST_PATH' })
  })

  it('the origin gets exactly the normalised path, and the query untouched', async () => {
    const tag = newTag()
    const res = await gateway.fetch('/echo//a/./b/%2e%2e/%63?q=%2e%2e%2f&x=a%20b', { headers: { 'x-test-tag': tag } })
    const echo = (await res.json()) as Echo
    expect(echo.url).toBe('/echo/a/c?q=%2e%2e%2f&x=a%20b')
  })

  it('rejections are problem+json with the request id as instance', async () => {
    const res = await gateway.fetch('/echo/public/..%2fadmin')
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const problem = (await res.json()) as Record<string, unknown>
    expect(problem).toEqual({
      type: 'urn:edgeway:problem:bad-request-path',
      title: 'Bad request path',
      status: 400,
      detail: 'The path contains an encoded slash or backslash.',
      instance: res.headers.get('x-request-id'),
      code: 'ERR_BAD_REQUEST_PATH',
    })
  })

  it('the deployed worker (through its fetch handler) rejects an encoded slash too', async () => {
    const tag = newTag()
    const res = await exports.default.fetch('http://gw.test/echo/..%2fadmin', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(400)
    expect(await originLog(tag)).toEqual([])
  })
})
