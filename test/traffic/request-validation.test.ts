/** The `validate` policy: good and bad requests against JSON Schemas, with exact error paths. */
import { describe, expect, it } from 'vitest'
import { newTag, originConfig, originLog, policyGateway, testGateway, TO_ORIGIN, type Echo } from '../support/gateway'
import { configProblems } from '../support/config'

const ORDER = {
  type: 'object',
  required: ['items'],
  additionalProperties: false,
  properties: {
    items: {
      type: 'array',
      minItems: 1,
      items: { type: 'object', required: ['sku', 'qty'], properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } } },
    },
    note: { type: 'string', maxLength: 10 },
  },
}

/** Route `orders` (GET and POST `/orders`) with the `validate` policy, proxying to the origin's `path`. */
const gateway = (policy: Record<string, unknown>, path = '/echo/orders') =>
  policyGateway('validate', policy, { id: 'orders', match: { path: '/orders', methods: ['GET', 'POST'] }, action: { ...TO_ORIGIN, path } })

const post = (body: string, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/json', ...headers },
})

type Problem = { status: number; code: string; detail: string; errors?: { in: string; path: string; message: string }[] }

describe('validate policy', () => {
  it('a valid body reaches the origin byte for byte', async () => {
    const gw = gateway({ body: ORDER })
    const text = '{ "items": [ { "sku": "a-1", "qty": 2 } ],\n "note": "é" }'
    const res = await gw.fetch('/orders', post(text, { 'x-test-tag': newTag() }))
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).body).toBe(text)
  })

  it('an invalid body: 400 problem+json listing each failing value by JSON Pointer; the origin is not called', async () => {
    const gw = gateway({ body: ORDER })
    const tag = newTag()
    const res = await gw.fetch('/orders', post(JSON.stringify({ items: [{ sku: 'a', qty: 1 }, { sku: 7, qty: 0 }, { qty: 'x' }], note: 'far too long', extra: true }), { 'x-test-tag': tag }))
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const problem = (await res.json()) as Problem
    expect(problem.code).toBe('ERR_BAD_REQUEST')
    expect(problem.detail).toBe("The request does not match the API's schema (6 problems).")
    expect(problem.errors).toEqual([
      { in: 'body', path: '/items/1/sku', message: 'Instance type "number" is invalid. Expected "string".' },
      { in: 'body', path: '/items/1/qty', message: '0 is less than 1.' },
      { in: 'body', path: '/items/2/sku', message: 'is required' },
      { in: 'body', path: '/items/2/qty', message: 'Instance type "string" is invalid. Expected "integer".' },
      { in: 'body', path: '/note', message: 'String is too long (12 > 10).' },
      { in: 'body', path: '/extra', message: 'is not allowed' },
    ])
    expect(await originLog(tag)).toEqual([])
  })

  it('missing, empty and malformed bodies, wrong content type', async () => {
    const gw = gateway({ body: ORDER })
    const missing = await gw.fetch('/orders', post('{}'))
    expect(((await missing.json()) as Problem).errors).toEqual([{ in: 'body', path: '/items', message: 'is required' }])

    const noBody = await gw.fetch('/orders', { method: 'POST' })
    expect(noBody.status).toBe(400)
    expect(((await noBody.json()) as Problem).detail).toBe('This request needs a JSON body.')

    const broken = await gw.fetch('/orders', post('{"items": [1,'))
    expect(broken.status).toBe(400)
    const problem = (await broken.json()) as Problem
    expect(problem.detail).toBe('The body is not valid JSON.')
    expect(problem.errors![0]).toMatchObject({ in: 'body', path: '' })

    const text = await gw.fetch('/orders', { method: 'POST', body: 'items=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(text.status).toBe(415)
    expect(((await text.json()) as Problem).code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE')
    // GET carries no body: only its query and headers are checked.
    expect((await gw.fetch('/orders', { headers: { 'x-test-tag': newTag() } })).status).toBe(200)
  })

  it('the body is capped before parsing: declared or streamed, 413', async () => {
    const gw = gateway({ body: ORDER, maxBodyBytes: 64 })
    const big = JSON.stringify({ items: [{ sku: 'x'.repeat(100), qty: 1 }] })
    const declared = await gw.fetch('/orders', post(big))
    expect(declared.status).toBe(413)
    expect(((await declared.json()) as Problem).code).toBe('ERR_PAYLOAD_TOO_LARGE')
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big))
        controller.close()
      },
    })
    const streamed = await gw.fetch('/orders', { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit)
    expect(streamed.status).toBe(413)
  })

  it('query values are converted by their schema type; repeated values fill arrays', async () => {
    const gw = gateway({
      query: {
        type: 'object',
        required: ['limit'],
        additionalProperties: false,
        properties: { limit: { type: 'integer', maximum: 100 }, dry: { type: 'boolean' }, tag: { type: 'array', items: { type: 'integer' }, maxItems: 2 } },
      },
    })
    expect((await gw.fetch('/orders?limit=5&dry=true&tag=1&tag=2', { headers: { 'x-test-tag': newTag() } })).status).toBe(200)
    const bad = await gw.fetch('/orders?limit=500&dry=maybe&tag=1&tag=x&tag=3&other=1')
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as Problem).errors).toEqual([
      { in: 'query', path: '/limit', message: '500 is greater than 100.' },
      { in: 'query', path: '/dry', message: 'Instance type "string" is invalid. Expected "boolean".' },
      { in: 'query', path: '/tag', message: 'Array has too many items (3 > 2).' },
      { in: 'query', path: '/tag/1', message: 'Instance type "string" is invalid. Expected "integer".' },
      { in: 'query', path: '/other', message: 'is not allowed' },
    ])
    const none = await gw.fetch('/orders')
    expect(((await none.json()) as Problem).errors).toEqual([{ in: 'query', path: '/limit', message: 'is required' }])
  })

  it('headers: names compared in lower case, only the named ones checked', async () => {
    const gw = gateway({ headers: { type: 'object', required: ['X-Client'], properties: { 'X-Client': { type: 'string', pattern: '^[a-z]+$' } } } })
    expect((await gw.fetch('/orders', { headers: { 'x-client': 'web', 'x-test-tag': newTag() } })).status).toBe(200)
    const bad = await gw.fetch('/orders', { headers: { 'X-Client': 'Web 2' } })
    expect(((await bad.json()) as Problem).errors).toEqual([{ in: 'headers', path: '/X-Client', message: 'String does not match pattern.' }])
  })

  it('runs after authentication: an anonymous caller gets 401, not the schema errors', async () => {
    const gw = testGateway(
      originConfig({
        consumers: { c1: { apiKeySecrets: ['KEY_HASH'] } },
        routes: [{ id: 'r', match: { path: '/orders' }, policies: [{ type: 'validate', body: ORDER }, { type: 'api-key' }], action: { type: 'proxy', upstream: 'origin' } }],
      }),
      { KEY_HASH: '0'.repeat(64) },
    )
    const res = await gw.fetch('/orders', post('{}'))
    expect(res.status).toBe(401)
  })

  it('responses are checked only with validateResponses, logged and never failed', async () => {
    const schema = { type: 'object', required: ['id'], properties: { id: { type: 'string' } } }
    const on = gateway({ responses: { '200': schema }, validateResponses: true }, '/json')
    const res = await on.fetch('/orders?value=%7B%22id%22%3A5%7D')
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ id: 5 })
    expect(on.logs.at(-1)!.responseInvalid).toEqual([{ in: 'response', path: '/id', message: 'Instance type "number" is invalid. Expected "string".' }])
    const good = await on.fetch('/orders?value=%7B%22id%22%3A%225%22%7D')
    expect(await good.json()).toEqual({ id: '5' })
    expect(on.logs.at(-1)!.responseInvalid).toBeUndefined()
    const off = gateway({ responses: { '200': schema } }, '/json')
    await (await off.fetch('/orders?value=%7B%22id%22%3A5%7D')).text()
    expect(off.logs.at(-1)!.responseInvalid).toBeUndefined()
  })

  it('config errors name the path', () => {
    const problems = (policy: Record<string, unknown>) => configProblems(originConfig({ routes: [{ id: 'r', match: { path: '/r' }, policies: [{ type: 'validate', ...policy }], action: { type: 'proxy', upstream: 'origin' } }] }))
    expect(problems({})).toEqual(['routes[0].policies[0]: set at least one of "body", "query", "headers" or "responses"'])
    expect(
      problems({
        body: { type: 'object', properties: { a: { type: 'strng' }, b: { $ref: 'https://example.com/s.json' }, c: { pattern: '(' } }, anyOf: {} },
        query: 5,
        validateResponses: true,
      }),
    ).toEqual([
      'routes[0].policies[0].query: must be a JSON Schema (an object or a boolean)',
    ])
    expect(problems({ body: { type: 'object', properties: { a: { type: 'strng' }, b: { $ref: 'https://example.com/s.json' }, c: { pattern: '(' } }, anyOf: {} }, validateResponses: true })).toEqual([
      'routes[0].policies[0].body.anyOf: must be a list of schemas',
      'routes[0].policies[0].body.properties.a.type: unknown type "strng" (known: string, number, integer, boolean, object, array, null)',
      'routes[0].policies[0].body.properties.b.$ref: only references inside the schema ("#/$defs/item") are supported: the gateway fetches no schemas',
      'routes[0].policies[0].body.properties.c.pattern: invalid regular expression: Invalid regular expression: /(/u: Unterminated group',
      'routes[0].policies[0].validateResponses: needs "responses" to check against',
    ])
  })
})
