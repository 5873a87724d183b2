/**
 * Values a call can't send, and answers it can't take: `.` or `..` placed in its path (a 400 when
 * the client sent it, as on a proxy route; `invalid-input` when an earlier call answered it), a
 * header value outside visible ASCII (`invalid-input`), and an answer nested too deeply (`too-deep`,
 * never a crash of the whole request). Each call that ran has its entry in the log line.
 */
import { describe, expect, it } from 'vitest'
import { newTag, originEvents, originLog, routeGateway, testGateway } from '../support/gateway'
import { manualRuntime, pollUntil } from '../support/runtime'
import { aggregate, aggregateConfig, jsonCall, type CallInput } from './helpers'

const ONE_MIB = 1024 * 1024
const deepCall = (name: string, query: Record<string, string>, more: Partial<CallInput> = {}): CallInput => ({ name, upstream: 'origin', path: '/repeat', query, required: false, ...more })

describe('aggregate: "." and ".." in a call\'s path', () => {
  it('from the client: the same 400 as a proxy route, and no call is sent', async () => {
    const tag = newTag()
    const agg = testGateway(aggregateConfig([{ name: 'a', upstream: 'origin', path: '/echo/{query.id}' }], {}, { match: { path: '/agg' } }))
    const proxy = routeGateway({ action: { type: 'proxy', upstream: 'origin', path: '/echo/{query.id}' } })
    for (const id of ['.', '..']) {
      const fromAgg = await agg.fetch(`/agg?id=${id}`, { headers: { 'x-test-tag': tag } })
      const fromProxy = await proxy.fetch(`/p?id=${id}`, { headers: { 'x-test-tag': tag } })
      expect(fromAgg.status).toBe(400)
      expect(fromProxy.status).toBe(400)
      const [a, p] = [await fromAgg.json<Record<string, unknown>>(), await fromProxy.json<Record<string, unknown>>()]
      expect({ type: a.type, title: a.title, detail: a.detail }).toEqual({ type: p.type, title: p.title, detail: p.detail })
    }
    expect(await originLog(tag)).toHaveLength(0)
    const entry = agg.logs.at(-1)!
    expect(entry.error).toBe('ERR_BAD_REQUEST')
    expect(entry.calls).toEqual([expect.objectContaining({ call: 'a', name: 'origin', outcome: 'invalid-input', durationMs: expect.any(Number) })])
  })

  it('from an earlier call: the call fails as invalid-input (not unreachable), with a real log entry', async () => {
    const tag = newTag()
    const { res, body, gw } = await aggregate(tag, [
      jsonCall('user', { id: '..' }, { output: false }),
      { name: 'orders', upstream: 'origin', path: '/echo/orders/{user.body.id}', required: false },
      jsonCall('ok', { ok: true }),
    ])
    expect(res.status).toBe(200)
    expect(body).toEqual({ ok: true, errors: [{ call: 'orders', error: 'invalid-input', input: 'user.body.id' }] })
    expect((await originLog(tag)).some((r) => r.url.startsWith('/echo/orders'))).toBe(false)
    const orders = (gw.logs.at(-1)!.calls as Record<string, unknown>[]).find((c) => c.call === 'orders')
    expect(orders).toMatchObject({ name: 'origin', outcome: 'invalid-input', durationMs: expect.any(Number) })
  })

  it('a required call with such an input fails the request as invalid-input', async () => {
    const { res, body } = await aggregate(newTag(), [jsonCall('user', { id: '.' }, { output: false }), { name: 'orders', upstream: 'origin', path: '/echo/{user.body.id}' }])
    expect(res.status).toBe(502)
    expect(body).toMatchObject({ call: 'orders', reason: 'invalid-input', input: 'user.body.id' })
  })
})

describe('aggregate: templated header values', () => {
  it('a value outside visible ASCII, space and tab fails the call as invalid-input, whoever sent it', async () => {
    const tag = newTag()
    const { body } = await aggregate(
      tag,
      [
        jsonCall('user', { name: 'Zoë' }, { output: false }),
        { name: 'fromCall', upstream: 'origin', path: '/echo/a', headers: { 'x-name': '{user.body.name}' }, required: false },
        { name: 'fromClient', upstream: 'origin', path: '/echo/b', headers: { 'x-name': 'n={headers.x-name}' }, required: false },
        jsonCall('ok', { ok: true }),
      ],
      {},
      { headers: { 'x-name': 'caf\u00e9' } },
    )
    expect(body.errors).toEqual([
      { call: 'fromCall', error: 'invalid-input', input: 'user.body.name' },
      { call: 'fromClient', error: 'invalid-input', input: 'headers.x-name' },
    ])
    expect((await originLog(tag)).some((r) => r.url.startsWith('/echo/'))).toBe(false)
  })
})

describe('aggregate: answers nested too deeply', () => {
  it('a body of "[" filling maxBodyBytes fails its call as too-deep; the required call still answers', async () => {
    const { res, body } = await aggregate(newTag(), [jsonCall('user', { id: 1 }), deepCall('deep', { unit: '[', count: String(ONE_MIB) })])
    expect(res.status).toBe(200)
    expect(res.headers.get('gateway-aggregate')).toBe('partial')
    expect(body).toEqual({ id: 1, errors: [{ call: 'deep', error: 'too-deep' }] })
  })

  it('valid JSON nested 5,000 levels deep fails as too-deep instead of crashing the request; 128 levels pass', async () => {
    const deep = deepCall('deep', { unit: '[', count: '5000', tail: ']'.repeat(5000) })
    const { res, body } = await aggregate(newTag(), [jsonCall('user', { id: 1 }), deep])
    expect(res.status).toBe(200)
    expect(body.errors).toEqual([{ call: 'deep', error: 'too-deep' }])
    const nested = (levels: number) => deepCall('nested', { unit: '[', count: String(levels), tail: `1${']'.repeat(levels)}` }, { group: 'nested' })
    const fits = await aggregate(newTag(), [jsonCall('user', { id: 1 }), nested(128)])
    expect(fits.res.headers.get('gateway-aggregate')).toBe('complete')
    const over = await aggregate(newTag(), [jsonCall('user', { id: 1 }), nested(129)])
    expect(over.body.errors).toEqual([{ call: 'nested', error: 'too-deep' }])
  })
})

describe('aggregate: the log line has each call\'s outcome and whole duration', () => {
  it('a connection dropped mid-body is logged as an error, not as a 200 that succeeded', async () => {
    const tag = newTag()
    const { body, gw } = await aggregate(tag, [jsonCall('ok', { ok: true }), deepCall('cut', { unit: ' ', count: '100000', tail: '1', cut: '10' })])
    expect(body.errors).toEqual([{ call: 'cut', error: 'unreachable' }])
    const cut = (gw.logs.at(-1)!.calls as Record<string, unknown>[]).find((c) => c.call === 'cut')
    expect(cut).toMatchObject({ status: 200, outcome: 'unreachable', error: 'body-interrupted' })
    const ok = (gw.logs.at(-1)!.calls as Record<string, unknown>[]).find((c) => c.call === 'ok')
    expect(ok).toMatchObject({ status: 200, outcome: 'ok' })
  })

  it('durationMs covers the body: a body that hangs until the call\'s timeout logs the whole timeout', async () => {
    const tag = newTag()
    const clock = manualRuntime()
    const gw = testGateway(aggregateConfig([jsonCall('ok', { ok: true }), deepCall('slow', { unit: ' ', count: '1000', tail: '1', cut: '10', stall: '1' }, { timeout: 5_000 })]), {}, { runtime: clock })
    const answer = gw.fetch('/agg/42', { headers: { 'x-test-tag': tag } })
    await pollUntil(() => originEvents(tag), (events) => events.includes('repeat-cut'))
    // The origin has sent its headers, but the gateway may not have read them yet: wait until the
    // slow call's header timer is cleared (two timers left: the call's own timeout and the run's),
    // or the clock would time the call out while it still waits for headers (no status logged).
    await clock.until(() => clock.pendingTimers() === 2)
    await clock.advance(5_000)
    const res = await answer
    expect(await res.json()).toEqual({ ok: true, errors: [{ call: 'slow', error: 'timeout' }] })
    const slow = (gw.logs.at(-1)!.calls as Record<string, unknown>[]).find((c) => c.call === 'slow')
    expect(slow).toMatchObject({ status: 200, outcome: 'timeout', error: 'timeout', durationMs: 5_000 })
  })
})

