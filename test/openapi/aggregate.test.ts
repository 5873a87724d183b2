/**
 * `x-edgeway-aggregate` in the generated OpenAPI document: what a client of an aggregate route can
 * rely on (docs/openapi-portal.md), from every option that changes what it sees, and no more.
 */
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi } from '../../src/openapi/document'
import { expectValid } from './helpers'

const upstreams = { users: { url: 'http://127.0.0.1:9' }, orders: { url: 'http://127.0.0.1:9' } }

function extensionOf(action: Record<string, unknown>) {
  const config = loadConfig({ upstreams, routes: [{ id: 'profile', match: { path: '/profile/:id', methods: ['GET'] }, action: action as never }] })
  const doc = buildOpenApi(config, {})
  expectValid(doc)
  return doc.paths['/profile/{id}'].get['x-edgeway-aggregate']
}

describe('x-edgeway-aggregate', () => {
  it('publishes each call\'s place in the response, forwarded headers, hedging and cache bound, and the error behaviour', () => {
    const published = extensionOf({
      type: 'aggregate',
      forwardHeaders: ['Accept-Language'],
      onAllFailed: 'empty',
      errors: 'passthrough',
      errorsKey: 'failures',
      errorDetails: true,
      calls: [
        { name: 'user', upstream: 'users', path: '/users/{params.id}', group: 'user', forwardHeaders: ['*'], hedge: { after: 200 } },
        { name: 'ids', upstream: 'orders', path: '/ids/{params.id}', required: false, output: false },
        { name: 'orders', upstream: 'orders', path: '/orders/{params.id}', required: false, append: ['items'], cache: { ttl: 30 }, cost: 5, select: 'data' },
      ],
    })
    expect(published).toEqual({
      calls: [
        { name: 'user', upstream: 'users', required: true, output: true, group: 'user', forwardHeaders: ['*'], hedge: true },
        { name: 'ids', upstream: 'orders', required: false, output: false, forwardHeaders: ['Accept-Language'] },
        { name: 'orders', upstream: 'orders', required: false, output: true, append: ['items'], forwardHeaders: ['Accept-Language'], cacheSeconds: 30 },
      ],
      errorsKey: 'failures',
      errorDetails: true,
      onAllFailed: 'empty',
      errors: 'passthrough',
    })
  })

  it('says the defaults outright: errors as a 502 problem, an "errors" member, nothing forwarded', () => {
    const published = extensionOf({ type: 'aggregate', calls: [{ name: 'user', upstream: 'users', path: '/users/{params.id}' }] })
    expect(published).toEqual({
      calls: [{ name: 'user', upstream: 'users', required: true, output: true }],
      errorsKey: 'errors',
      errorDetails: false,
      onAllFailed: 'error',
      errors: 'problem',
    })
  })
})
