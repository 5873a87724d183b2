/**
 * A value a call's path or query reads from an earlier call is missing (absent, null, empty): the
 * call is not sent, since `/orders/{user.body.id}` would go out as `/orders/` (maybe "all orders").
 */
import { describe, expect, it } from 'vitest'
import { newTag, originLog } from '../support/gateway'
import { aggregate, jsonCall } from './helpers'

const USER = { name: 'ada', nothing: null, empty: '', none: [], secret: 's3cr3t-value' }

const pathsSeen = async (tag: string) => (await originLog(tag)).map((r) => r.url).sort()

describe('aggregate: missing chained values', () => {
  it('does not send an optional call whose path or query lacks a value, reports it and skips its readers', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [
      jsonCall('user', USER, { output: false }),
      { name: 'orders', upstream: 'origin', path: '/echo/orders/{user.body.id}', required: false },
      { name: 'byNull', upstream: 'origin', path: '/echo/n/{user.body.nothing}', required: false },
      { name: 'byQuery', upstream: 'origin', path: '/echo/q', query: { user: '{user.body.empty}' }, required: false },
      { name: 'byList', upstream: 'origin', path: '/echo/l', query: { ids: '{user.body.none[].id}' }, required: false },
      { name: 'after', upstream: 'origin', path: '/echo/after/{orders.status}', required: false },
    ], { onAllFailed: 'empty' })
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('partial')
    expect(body).toEqual({
      errors: [
        { call: 'orders', error: 'missing-input', input: 'user.body.id' },
        { call: 'byNull', error: 'missing-input', input: 'user.body.nothing' },
        { call: 'byQuery', error: 'missing-input', input: 'user.body.empty' },
        { call: 'byList', error: 'missing-input', input: 'user.body.none[].id' },
        { call: 'after', error: 'skipped', after: 'orders' },
      ],
    })
    expect(JSON.stringify(body)).not.toContain('s3cr3t')
    expect(await pathsSeen(tag)).toEqual([expect.stringMatching(/^\/json\?/)])
  })

  it('sends the call when a fallback is given (an empty one "{x|}" allows empty), and request values may be absent', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [
      jsonCall('user', USER, { output: false }),
      {
        name: 'b',
        upstream: 'origin',
        path: '/echo/b/{user.body.id|none}/{user.body.empty|blank}',
        query: { n: '{user.body.nothing|}', page: '{query.page}', name: '{user.body.name}' },
        group: 'b',
      },
    ])
    expect(res.headers.get('gateway-aggregate')).toBe('complete')
    expect(body.b.url).toBe('/echo/b/none/blank?name=ada')
  })

  it('fails the request with 502 problem+json naming a required call and the missing reference, not its value', async () => {
    const tag = newTag()
    const { res, body } = await aggregate(tag, [
      jsonCall('user', USER, { output: false }),
      { name: 'orders', upstream: 'origin', path: '/echo/orders/{user.body.id}' },
    ])
    expect(res.status).toBe(502)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(body).toMatchObject({ status: 502, code: 'ERR_UPSTREAM_BAD_RESPONSE', call: 'orders', reason: 'missing-input', input: 'user.body.id' })
    expect(body.detail).toBe('The required call "orders" was not sent: a value its path or query reads from an earlier call is missing.')
    expect(JSON.stringify(body)).not.toContain('s3cr3t')
    expect(await pathsSeen(tag)).toHaveLength(1)
  })
})
