/**
 * Integers above 2^53 keep their exact value through an aggregation: parsing, shaping, merging,
 * templates (a chained call fetches the right resource) and the response's text.
 */
import { describe, expect, it } from 'vitest'
import { hasLongDigitRun, parseExactJson } from '../../src/core/exact-json'
import { newTag, originLog, testGateway } from '../support/gateway'
import { aggregate, aggregateConfig, literal, type CallInput } from './helpers'

const BIG = '12345678901234567890'
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

  it('reads number sources only when the text has a run of 16 digits (a decimal point inside a number does not break it)', () => {
    expect(hasLongDigitRun('{"a": 123456789012345, "b": "2026-12-04T10:00:00Z", "c": 1.5}')).toBe(false)
    expect(hasLongDigitRun('{"x": 0.1234567890123456}')).toBe(true)
    expect(hasLongDigitRun('{"x": 1234567.123456789}')).toBe(true)
    expect(hasLongDigitRun(`{"id": ${BIG}}`)).toBe(true)
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
