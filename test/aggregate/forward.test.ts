/**
 * Which request headers reach an aggregation's calls (`forwardHeaders`): none of the client's by
 * default, the ones named, `"*"` without credentials; what the gateway and its policies set always.
 * The test origin echoes what each call received.
 */
import { describe, expect, it } from 'vitest'
import { newTag, sha256Hex, testGateway } from '../support/gateway'
import { aggregateConfig, type CallInput } from './helpers'

const CLIENT = {
  authorization: 'Bearer user-token',
  cookie: 'session=abc',
  'x-api-key': 'client-key',
  'x-custom-key': 'custom-key',
  'accept-language': 'fr',
  accept: 'text/html',
  'x-custom': 'one',
}

const echo = (name: string, more: Partial<CallInput> = {}): CallInput => ({ name, upstream: 'origin', path: `/echo/${name}`, select: 'headers', group: name, ...more })

/** What each call received, for a request with the client headers above. */
async function received(calls: CallInput[], forwardHeaders: string[] | undefined, route: Record<string, unknown> = {}) {
  const config = aggregateConfig(calls, forwardHeaders === undefined ? {} : { forwardHeaders }, route)
  if (forwardHeaders === undefined) delete (config.routes[0]!.action as { forwardHeaders?: string[] }).forwardHeaders
  const res = await testGateway(config).fetch('/agg/42', { headers: { ...CLIENT, 'x-test-tag': newTag() } })
  expect(res.status).toBe(200)
  return { res, body: (await res.json()) as Record<string, Record<string, string>> }
}

const clientHeadersIn = (headers: Record<string, string>) => Object.keys(CLIENT).filter((name) => headers[name] === CLIENT[name as keyof typeof CLIENT])

describe('aggregate: forwardHeaders', () => {
  it('by default, no client header reaches a call; the gateway\'s do, and Accept is application/json', async () => {
    const { res, body } = await received([echo('a')], undefined)
    const sent = body.a!
    expect(clientHeadersIn(sent)).toEqual([])
    expect(sent['x-test-tag']).toBeUndefined()
    expect(sent.accept).toBe('application/json')
    expect(sent['x-request-id']).toBe(res.headers.get('x-request-id'))
    expect(sent['x-forwarded-proto']).toBe('http')
    expect(sent['x-forwarded-host']).toBe('gateway.test')
    expect(sent.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
  })

  it('passes the headers named, per action or per call (a call\'s list replaces the action\'s)', async () => {
    const { body } = await received([echo('a'), echo('b', { forwardHeaders: ['X-Custom', 'Accept'] })], ['Accept-Language', 'authorization'])
    expect(clientHeadersIn(body.a!)).toEqual(['authorization', 'accept-language'])
    expect(body.a!.accept).toBe('application/json')
    expect(clientHeadersIn(body.b!)).toEqual(['accept', 'x-custom'])
  })

  it('"*" passes every client header but Authorization, Cookie and API-key headers, which pass only by name', async () => {
    const { body } = await received([echo('all'), echo('named', { forwardHeaders: ['*', 'Authorization', 'Cookie', 'X-API-Key'] })], ['*'])
    expect(clientHeadersIn(body.all!)).toEqual(['x-custom-key', 'accept-language', 'accept', 'x-custom'])
    expect(clientHeadersIn(body.named!)).toEqual(['authorization', 'cookie', 'x-api-key', 'x-custom-key', 'accept-language', 'accept', 'x-custom'])
  })

  it('"*" also leaves out the header an api-key policy reads its key from, kept on the request by hideCredentials: false', async () => {
    const config = aggregateConfig([echo('a')], { forwardHeaders: ['*'] }, { policies: [{ type: 'api-key', header: 'X-Custom-Key', hideCredentials: false }] })
    config.consumers = { acme: { apiKeySecrets: ['ACME_HASH'] } }
    const gw = testGateway(config, { ACME_HASH: await sha256Hex(CLIENT['x-custom-key']) })
    const res = await gw.fetch('/agg/42', { headers: { ...CLIENT, 'x-test-tag': newTag() } })
    expect(res.status).toBe(200)
    const sent = ((await res.json()) as Record<string, Record<string, string>>).a!
    expect(clientHeadersIn(sent)).toEqual(['accept-language', 'accept', 'x-custom'])
  })

  it('a header the route\'s policies set or change always passes, and the call\'s own headers win', async () => {
    const route = { policies: [{ type: 'headers', request: { set: { Authorization: 'Bearer service-token', 'X-Custom': 'changed' } } }] }
    const { body } = await received([echo('a'), echo('b', { headers: { Authorization: 'Bearer per-call', Accept: 'application/vnd.x+json' } })], undefined, route)
    expect(body.a!.authorization).toBe('Bearer service-token')
    expect(body.a!['x-custom']).toBe('changed')
    expect(body.a!.cookie).toBeUndefined()
    expect(body.b!.authorization).toBe('Bearer per-call')
    expect(body.b!.accept).toBe('application/vnd.x+json')
  })
})
