/**
 * Integers above 2^53 keep their exact value through an aggregation: parsing, shaping, merging,
 * templates (a chained call fetches the right resource) and the response's text.
 */
import { describe, expect, it } from 'vitest'
import { parseExactJson, scanJson as scanBytes } from '../../src/core/exact-json'
import { newTag, originLog, testGateway } from '../support/gateway'
import { aggregate, aggregateConfig, literal, type CallInput } from './helpers'

const BIG = '12345678901234567890'
/** The scan as `parseJson` calls it: the bytes, and the text decoded from them (a slice of it read when all ASCII). */
const scanJson = (text: string, maxDepth: number) => scanBytes(new TextEncoder().encode(text), maxDepth, text)
const NEGATIVE = '-98765432109876543210'
/** A call answering this exact text (numbers a double would alter included). */
const textCall = (name: string, text: string, more: Partial<CallInput> = {}): CallInput => ({ name, upstream: 'origin', path: '/json', query: { value: literal(text) }, ...more })

describe('aggregate: exact numbers', () => {
  it('workerd at our compatibility date has JSON.parse with source text and JSON.rawJSON', () => {
    let source: string | undefined
    const reviver = (_key: string, value: unknown, context?: { source?: string }) => ((source ??= context?.source), value)
    ;(JSON.parse as (text: string, reviver: unknown) => unknown)(BIG, reviver)
    expect(source).toBe(BIG)
    const json = JSON as unknown as { rawJSON(text: string): unknown; isRawJSON(value: unknown): boolean }
    expect(JSON.stringify({ id: json.rawJSON(BIG) })).toBe(`{"id":${BIG}}`)
    expect(json.isRawJSON(parseExactJson(BIG))).toBe(true)
  })

  it('answers a big integer with its exact digits, beside ordinary numbers', async () => {
    const { res, gw } = await aggregateText(newTag(), [textCall('a', `{"id": ${BIG}, "neg": ${NEGATIVE}, "small": 42, "pi": 3.14159, "safe": 9007199254740991, "list": [${BIG}, 1]}`)])
    expect(res.status).toBe(200)
    expect(gw.text).toBe(`{"id":${BIG},"neg":${NEGATIVE},"small":42,"pi":3.14159,"safe":9007199254740991,"list":[${BIG},1]}`)
  })

  it('a chained call reads the exact id: its path and query carry the right digits', async () => {
    const tag = newTag()
    const { res } = await aggregate(tag, [
      textCall('user', `{"id": ${BIG}}`, { output: false }),
      { name: 'orders', upstream: 'origin', path: '/echo/orders/{user.body.id}', query: { owner: '{user.body.id}' } },
    ])
    expect(res.status).toBe(200)
    expect((await originLog(tag)).map((r) => r.url)).toContain(`/echo/orders/${BIG}?owner=${BIG}`)
  })

  it('the JSON body a chained call sends holds the exact number', async () => {
    const tag = newTag()
    const { gw } = await aggregateText(tag, [
      textCall('user', `{"id": ${BIG}}`, { output: false }),
      { name: 'post', upstream: 'origin', method: 'POST', path: '/echo/post', body: { owner: '{user.body.id}' }, select: 'body', group: 'sent' },
    ])
    expect(JSON.parse(gw.text).sent).toBe(`{"owner":${BIG}}`)
  })

  it('shaping and merging treat an exact number as a leaf', async () => {
    const { gw } = await aggregateText(newTag(), [
      textCall('a', `{"data": {"user": {"id": ${BIG}, "secret": ${BIG}}, "ids": [{"id": ${BIG}}, {"id": 7}]}}`, {
        select: 'data',
        collect: { allIds: 'ids[].id' },
        allow: ['user', 'allIds'],
        deny: ['user.secret', 'user.id.rawJSON'],
        rename: { 'user.id': 'userId' },
      }),
      // A later object meets the exact number: replaced, not merged into.
      textCall('b', `{"total": ${BIG}, "user": {"name": "Ada"}}`),
      textCall('c', `{"total": {"n": 1}}`),
    ])
    expect(gw.text).toBe(`{"user":{"userId":${BIG},"name":"Ada"},"allIds":[${BIG},7],"total":{"n":1}}`)
  })

  it('a large number written short (1e21) and an ordinary fraction stay numbers; in a body with a big integer, a long fraction keeps its digits too', async () => {
    const { gw } = await aggregateText(newTag(), [textCall('a', `{"y": 0.30000000000000004, "big": 1e21, "id": ${BIG}, "x": 0.12345678901234567890}`)])
    expect(gw.text).toBe(`{"y":0.30000000000000004,"big":1e+21,"id":${BIG},"x":0.12345678901234567890}`)
  })

  it('a long fraction keeps its digits in a body without a big integer too', async () => {
    const { gw } = await aggregateText(newTag(), [textCall('a', `{"x": 0.12345678901234567890, "price": 19.99}`)])
    expect(gw.text).toBe(`{"x":0.12345678901234567890,"price":19.99}`)
  })

  it('a long number a double holds exactly (its shortest text) is answered as it was written', async () => {
    const { gw } = await aggregateText(newTag(), [textCall('a', `{"x": 0.30000000000000004, "lng": -122.41941550000001, "n": 9007199254740991}`)])
    expect(gw.text).toBe(`{"x":0.30000000000000004,"lng":-122.41941550000001,"n":9007199254740991}`)
  })

  it('reads number sources only for a number of 16 characters or more that a double reads back otherwise; digits in strings never count', () => {
    expect(scanJson('{"a": 123456789012345, "b": "2026-12-04T10:00:00Z", "c": 1.5, "d": true, "e": false}', 8)).toBeUndefined()
    expect(scanJson('{"x": 0.12345678901234567890}', 8)).toBe('long-number')
    expect(scanJson('{"x": 1234567.1234567891}', 8)).toBe('long-number')
    expect(scanJson(`{"id": ${BIG}}`, 8)).toBe('long-number')
    expect(scanJson(`[1, ${BIG}]`, 8)).toBe('long-number')
    expect(scanJson(BIG, 8)).toBe('long-number')
    // A double's own shortest text (what JavaScript or Python prints) reads back the same: one parse.
    expect(scanJson('{"x": 0.30000000000000004, "lng": -122.41941550000001, "r": 0.8444218515250481}', 8)).toBeUndefined()
    // Written short, a double's digits are few: 15 significant digits and an exponent count too.
    expect(scanJson('{"x": 123456789012345e5}', 8)).toBe('long-number')
    expect(scanJson('{"x": 1e21, "y": -1.5E-7}', 8)).toBeUndefined()
    // Without the text (or with characters of several bytes), each number's text is read from the bytes.
    expect(scanBytes(new TextEncoder().encode(`[0.30000000000000004, ${BIG}]`), 8)).toBe('long-number')
    expect(scanBytes(new TextEncoder().encode('["é", 0.30000000000000004]'), 8)).toBeUndefined()
    // Ids sent as strings (and a quote escaped inside one) don't make the body parse twice.
    expect(scanJson(`{"id": "${BIG}", "note": "a \\"quoted\\" ${BIG}", "n": 1}`, 8)).toBeUndefined()
  })

  it('finds nesting deeper than the bound, strings aside', () => {
    expect(scanJson('[[[1]]]', 3)).toBeUndefined()
    expect(scanJson('[[[[1]]]]', 3)).toBe('too-deep')
    expect(scanJson('{"a": {"b": "[[[[[["}}', 2)).toBeUndefined()
    expect(scanJson('{"a": "\\\\", "b": {"c": {}}}', 2)).toBe('too-deep')
    // A quote after an odd run of backslashes is inside the string; after an even run it ends it.
    expect(scanJson('{"a": "x\\\\\\"[[[", "b": 1}', 1)).toBeUndefined()
    expect(scanJson('{"a": "x\\\\\\\\", "b": [[1]]}', 2)).toBe('too-deep')
    expect(scanJson('["unterminated [[[', 1)).toBeUndefined()
    // Characters of several bytes, in strings and keys, are skipped like any other.
    expect(scanJson('{"é€😀": "[[[é€😀", "n": [12345678901234567]}', 2)).toBe('long-number')
  })

  it('an id sent as a string beside a long number: the number keeps its digits, the string is a string', async () => {
    const { gw } = await aggregateText(newTag(), [textCall('a', `{"id": "${BIG}", "n": ${BIG}}`)])
    expect(gw.text).toBe(`{"id":"${BIG}","n":${BIG}}`)
  })

  it('keeps as raw only numbers that do not survive the round trip', () => {
    const value = parseExactJson(`{"a": 1234567890123456, "b": ${BIG}, "c": 0.1, "s": "${BIG}"}`) as Record<string, unknown>
    expect(value.a).toBe(1234567890123456)
    expect(value.c).toBe(0.1)
    expect(value.s).toBe(BIG)
    expect(typeof value.b).toBe('object')
    expect(JSON.stringify(value)).toBe(`{"a":1234567890123456,"b":${BIG},"c":0.1,"s":"${BIG}"}`)
  })

  it('a plain body (no run of 16 digits) parses as JSON.parse does', () => {
    const text = JSON.stringify({ n: 123456789012345, list: [1.5, -2, 'x'], nested: { ok: true } })
    expect(parseExactJson(text)).toEqual(JSON.parse(text))
  })
})

/** Like `aggregate`, but keeps the response's text: a big number's digits are lost once parsed. */
async function aggregateText(tag: string, calls: CallInput[]) {
  const res = await testGateway(aggregateConfig(calls)).fetch('/agg/42', { headers: { 'x-test-tag': tag } })
  return { res, gw: { text: await res.text() } }
}
