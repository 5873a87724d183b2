/** The policy pipeline: fixed phases, then global before route and config order within a phase. */
import { describe, expect, it } from 'vitest'
import { ORIGIN, testGateway, type Echo } from '../support/gateway'

describe('policy pipeline order', () => {
  const gw = testGateway({
    upstreams: { origin: { url: ORIGIN } },
    policies: [
      { type: 'request-id' },
      { type: 'headers', request: { add: { 'X-Order': 'global' } }, response: { add: { 'X-Resp': 'global' } } },
    ],
    routes: [
      {
        id: 'r',
        match: { path: '/echo/*' },
        policies: [
          // Listed before request-id, but its phase (transform) runs after request-id's (request).
          { type: 'headers', request: { add: { 'X-Order': 'route-1', 'X-Seen-Id': '{request.id}' } }, response: { add: { 'X-Resp': 'route-1' } } },
          { type: 'headers', request: { add: { 'X-Order': 'route-2' } }, response: { add: { 'X-Resp': 'route-2' } } },
          { type: 'request-id', header: 'X-Trace', trustIncoming: true },
        ],
        action: { type: 'proxy', upstream: 'origin' },
      },
    ],
  })

  it('request side: phase order, then global before route, then config order', async () => {
    const res = await gw.fetch('/echo/x', { headers: { 'x-trace': 'trace-1' } })
    const seen = (await res.json()) as Echo
    expect(seen.headers['x-order']).toBe('global, route-1, route-2')
    expect(seen.headers['x-seen-id']).toBe('trace-1')
  })

  it('response side unwinds in reverse', async () => {
    const res = await gw.fetch('/echo/x')
    expect(res.headers.get('x-resp')).toBe('route-2, route-1, global')
  })

  it('global request-phase policies run before routing, so they cover 404s; later phases only run on routes', async () => {
    const res = await gw.fetch('/nope')
    expect(res.status).toBe(404)
    expect(res.headers.get('x-request-id')).toBeTruthy()
    expect(res.headers.get('x-resp')).toBeNull()
  })

  it('an error in the action still passes back through the policies (their response side runs)', async () => {
    const down = testGateway({
      upstreams: { down: { url: 'http://127.0.0.1:1' } },
      routes: [
        {
          id: 'down',
          match: { path: '/*' },
          policies: [{ type: 'headers', response: { set: { 'X-Policy-Ran': 'yes' } } }],
          action: { type: 'proxy', upstream: 'down' },
        },
      ],
    })
    const res = await down.fetch('/x')
    expect(res.status).toBe(502)
    expect(res.headers.get('x-policy-ran')).toBe('yes')
  })
})
