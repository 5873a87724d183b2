/**
 * An unexpected error (a plain `Error`, not a GatewayError) inside a real gateway: the client gets
 * a bare 500 problem (no message, no stack), the operator gets `unhandled_error` with the details.
 * What throws: the portal's pages come from the ASSETS binding, and here that binding's fetch
 * throws, as a broken binding would.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { originConfig, testGateway } from '../support/gateway'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('an unexpected error in a route', () => {
  it('is a bare 500 problem+json for the client and an unhandled_error event for the operator', async () => {
    const events = vi.spyOn(console, 'error').mockImplementation(() => {})
    const boom = new Error('assets store exploded at 10.0.0.7:4433')
    const gw = testGateway(originConfig({ gateway: { openapi: { path: '/openapi.json' }, portal: { path: '/portal' } } }), {
      ASSETS: {
        fetch() {
          throw boom
        },
      },
    })
    const res = await gw.fetch('/portal/index.html')
    expect(res.status).toBe(500)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const text = await res.text()
    const requestId = res.headers.get('x-request-id')
    expect(JSON.parse(text)).toEqual({
      type: 'urn:edgeway:problem:internal',
      title: 'Internal gateway error',
      status: 500,
      instance: requestId,
      code: 'ERR_INTERNAL',
    })
    expect(text).not.toContain('10.0.0.7')
    expect(text).not.toContain('exploded')
    expect(gw.logs.at(-1)).toMatchObject({ requestId, status: 500, error: 'ERR_INTERNAL' })
    const logged = events.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
    expect(logged).toContainEqual({ event: 'unhandled_error', requestId, error: String(boom), stack: boom.stack })
  })
})
