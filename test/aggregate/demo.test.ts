/** The bundled test config's aggregate route (the demo's `profile`), through the worker's fetch handler. */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { newTag, originLog } from '../support/gateway'

describe('aggregate: demo route', () => {
  it('answers one JSON document from three calls; the second, chained on the first, is not sent without its input', async () => {
    const tag = newTag()
    const res = await exports.default.fetch('http://gw.test/profile/1', { headers: { 'x-test-tag': tag } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    const body = (await res.json()) as Record<string, unknown>
    // The test origin echoes, so the user has none of the allowed fields and no id: the chained
    // call is not sent as `/orders/` (which could list every order), it is reported instead.
    expect(res.headers.get('gateway-aggregate')).toBe('partial')
    expect(body.user).toEqual({})
    expect(body.errors).toEqual([{ call: 'orders', error: 'missing-input', input: 'user.body.id' }])
    const paths = (await originLog(tag)).map((r) => r.url).sort()
    expect(paths).toEqual(['/recommendations/1', '/users/1'])
    const ids = new Set((await originLog(tag)).map((r) => r.headers['x-request-id']))
    expect([...ids]).toEqual([res.headers.get('x-request-id')])
  })
})
