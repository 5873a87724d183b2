/** The request log: one JSON line per request, with the fields and nothing secret. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env as poolEnv } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { GatewayHost } from '../../src/gateway/host'
import type { Env } from '../../src/core/env'
import { ORIGIN, originConfig } from '../support/gateway'

const env = poolEnv as unknown as Env

afterEach(() => {
  vi.restoreAllMocks()
})

async function linesFor(host: GatewayHost, path: string, init: RequestInit = {}): Promise<{ res: Response; lines: string[] }> {
  const spy = vi.spyOn(console, 'log').mockImplementation(() => {})
  const ctx = createExecutionContext()
  const res = await host.fetch(new Request(`http://gw.test${path}`, init), env, ctx)
  await res.arrayBuffer()
  await waitOnExecutionContext(ctx)
  const lines = spy.mock.calls.map(([line]) => String(line))
  spy.mockRestore()
  return { res, lines }
}

const SECRETS = { query: 'qsecret-123', bearer: 'bearer-secret-456', cookie: 'cookie-secret-789', key: 'key-secret-000' }
const secretInit: RequestInit = {
  headers: { authorization: `Bearer ${SECRETS.bearer}`, cookie: `sid=${SECRETS.cookie}`, 'x-api-key': SECRETS.key },
}

describe('request log line', () => {
  const host = new GatewayHost(
    originConfig({
      upstreams: { origin: { url: ORIGIN }, down: { url: 'http://127.0.0.1:1' } },
      routes: [
        { id: 'down', match: { path: '/down/*' }, action: { type: 'proxy', upstream: 'down' } },
        { id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } },
      ],
    }),
  )

  it('a proxied request: one JSON line with id, route, method, path, status, durations and the upstream', async () => {
    const { res, lines } = await linesFor(host, `/echo/a/../b?token=${SECRETS.query}&page=2&token=x`, secretInit)
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!) as Record<string, any>
    expect(line).toEqual({
      requestId: res.headers.get('x-request-id'),
      routeId: 'all',
      method: 'GET',
      path: '/echo/b',
      queryKeys: ['token', 'page'],
      status: 200,
      durationMs: expect.any(Number),
      upstream: { name: 'origin', target: ORIGIN, status: 200, durationMs: expect.any(Number), tries: 1 },
      traceId: expect.stringMatching(/^[0-9a-f]{32}$/),
      spanId: expect.stringMatching(/^[0-9a-f]{16}$/),
    })
    for (const secret of Object.values(SECRETS)) expect(lines[0]).not.toContain(secret)
    expect(lines[0]).not.toContain('page=2')
  })

  it('a failed request: the error code and upstream error, still nothing secret', async () => {
    const { res, lines } = await linesFor(host, `/down/x?token=${SECRETS.query}`, secretInit)
    expect(res.status).toBe(502)
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!) as Record<string, any>
    expect(line).toMatchObject({
      routeId: 'down',
      path: '/down/x',
      status: 502,
      error: 'ERR_UPSTREAM_UNREACHABLE',
      upstream: { name: 'down', target: 'http://127.0.0.1:1', error: 'unreachable', durationMs: expect.any(Number) },
    })
    for (const secret of Object.values(SECRETS)) expect(lines[0]).not.toContain(secret)
  })

  it('404s and rejected paths are logged too', async () => {
    const empty = new GatewayHost({ routes: [] })
    const notFound = await linesFor(empty, `/nope?token=${SECRETS.query}`)
    expect(notFound.lines).toHaveLength(1)
    expect(JSON.parse(notFound.lines[0]!)).toMatchObject({ path: '/nope', status: 404, error: 'ERR_ROUTE_NOT_FOUND', queryKeys: ['token'] })
    const bad = await linesFor(empty, '/a/..%2fadmin')
    expect(JSON.parse(bad.lines[0]!)).toMatchObject({ status: 400, error: 'ERR_BAD_REQUEST_PATH' })
    for (const { lines } of [notFound, bad]) expect(lines[0]).not.toContain(SECRETS.query)
  })

  it('gateway.log.requests: false turns the line off', async () => {
    const quiet = new GatewayHost({ gateway: { log: { requests: false } }, routes: [] })
    expect((await linesFor(quiet, '/x')).lines).toEqual([])
  })
})
