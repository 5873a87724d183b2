/**
 * An origin that answers with a status no HTTP response may have (outside 200-599 as a final
 * status, or an interim 1xx the runtime hands over as final) gets the client a 502 problem, on
 * every route, cached or not: never a 500 of the gateway's making.
 */
import { describe, expect, it } from 'vitest'
import { newTag, originConfig, testGateway } from '../support/gateway'

const gateway = () =>
  testGateway(
    originConfig({
      routes: [
        { id: 'cached', match: { path: '/c/*' }, policies: [{ type: 'cache', scope: 'public' }], action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' } },
        { id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } },
      ],
    }),
  )

describe('an origin status outside what HTTP allows', () => {
  for (const [route, prefix] of [['uncached', ''], ['cached', '/c']] as const) {
    for (const status of [999, 600, 103]) {
      it(`${status} on a ${route} route: 502 problem+json ERR_UPSTREAM_INVALID_RESPONSE`, async () => {
        const res = await gateway().fetch(`${prefix}/echo/${newTag()}?status=${status}&body=never-read`)
        expect(res.status).toBe(502)
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
        expect(await res.json()).toMatchObject({ code: 'ERR_UPSTREAM_INVALID_RESPONSE', status: 502 })
      })
    }
  }
})
