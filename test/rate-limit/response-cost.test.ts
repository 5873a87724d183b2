/**
 * `costPath`: the cost read from the response body (JSON, or the end of an SSE stream), through the
 * gateway in front of the real test origin, charged in real RateLimiter objects.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import type { Env } from '../../src/core/env'
import { createGateway } from '../../src/gateway/create-gateway'
import { teeBodyCost } from '../../src/rate-limit/response-cost'
import { parsePath } from '../../src/template/path'
import { ORIGIN, newTag, originEvents, policyGateway, routeConfig } from '../support/gateway'
import { configProblems } from '../support/config'
import { manualRuntime, pollUntil } from '../support/runtime'
import { freshIp, used } from './helpers'

const TOKENS = { name: 'tokens', limit: 100, window: 60 }
const ID = 'route:r/tokens'
const from = (ip: string, tag = newTag()) => ({ headers: { 'cf-connecting-ip': ip, 'x-test-tag': tag } })
const json = (value: unknown) => `/json?value=${encodeURIComponent(JSON.stringify(value))}`

/** A gateway proxying every path to the test origin behind `rate-limit` with `costPath`. */
const costGateway = (options: Record<string, unknown> = {}) =>
  policyGateway('rate-limit', { costPath: 'usage.total_tokens', limits: [TOKENS], ...options }, {}, { runtime: manualRuntime() })

describe('costPath: a JSON body', () => {
  for (const mode of ['lease', 'exact'] as const) {
    it(`mode "${mode}": a body reporting 40 tokens charges 40 and reaches the client unchanged; 0 tokens charge none`, async () => {
      const gw = costGateway({ mode })
      const [a, b] = [freshIp(), freshIp()]
      const res = await gw.fetch(json({ id: 'x', usage: { total_tokens: 40 } }), from(a))
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ id: 'x', usage: { total_tokens: 40 } })
      expect(await used(`ip=${a}`, ID)).toBe(40)
      await (await gw.fetch(json({ usage: { total_tokens: 0 } }), from(b))).text()
      expect(await used(`ip=${b}`, ID)).toBe(0)
    })
  }

  it('a body that reports more than is left puts the key in debt: the next request waits', async () => {
    const gw = costGateway({ mode: 'exact' })
    const ip = freshIp()
    await (await gw.fetch(json({ usage: { total_tokens: 150 } }), from(ip))).text()
    expect(await used(`ip=${ip}`, ID)).toBe(150)
    const next = await gw.fetch(json({ usage: { total_tokens: 1 } }), from(ip))
    expect(next.status).toBe(429)
    expect(Number(next.headers.get('retry-after'))).toBeGreaterThan(55)
  })

  it('an unreadable cost leaves minCost charged: not JSON, no number at the path, over costMaxBytes, invalid JSON', async () => {
    const gw = costGateway({ minCost: 2, costMaxBytes: 64 })
    const cases = [
      '/bytes?size=10',
      json({ usage: { total_tokens: 'forty' } }),
      json({ pad: 'x'.repeat(100), usage: { total_tokens: 40 } }),
      `/json?value=${encodeURIComponent('{"usage":{"total_tokens":40}')}`,
    ]
    for (const path of cases) {
      const ip = freshIp()
      const res = await gw.fetch(path, from(ip))
      expect(res.status).toBe(200)
      await res.text()
      expect(await used(`ip=${ip}`, ID)).toBe(2)
    }
  })

  it('refuses a costPath beside cost or costHeader, or one naming every element, naming the field', () => {
    const problems = (options: Record<string, unknown>) =>
      configProblems({ routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'rate-limit', limits: [TOKENS], costPath: 'usage.total_tokens', ...options }], action: { type: 'respond' } }] })
    expect(problems({ cost: 2 })).toEqual(['routes[0].policies[0].cost: give either "cost" (a fixed cost) or "costPath" (the cost read from the response body, "minCost" taken at admission), not both'])
    expect(problems({ costHeader: 'X-Usage-Tokens' })).toEqual(['routes[0].policies[0].costPath: give either "costHeader" or "costPath" (where the response says its cost), not both'])
    expect(problems({ costPath: 'choices[].tokens' })).toEqual(['routes[0].policies[0].costPath: must name one value: "[]" (every element) is not allowed here'])
  })
})

describe('costPath: a server-sent event stream', () => {
  it('the client gets the first event while the stream is open; the cost of the last event is charged after the stream ends', async () => {
    // Called through the app with its own execution context: the test gateway's fetch waits for
    // `waitUntil`, which here lasts until the stream ends.
    const gatewayEnv = env as unknown as Env
    const config = loadConfig(routeConfig({ policies: [{ type: 'rate-limit', mode: 'exact', costPath: 'usage.total_tokens', limits: [TOKENS] }] }))
    const app = createGateway(config, gatewayEnv, { writeLog: () => {}, runtime: manualRuntime() })
    const [ip, tag] = [freshIp(), newTag()]
    const last = JSON.stringify({ choices: [], usage: { total_tokens: 40 } })
    const ctx = createExecutionContext()
    const res = await app.fetch(new Request(`http://gateway.test/sse?last=${encodeURIComponent(last)}`, from(ip, tag)), gatewayEnv, ctx)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
    let received = ''
    // Bounded: the first event is one small chunk; the origin sends no more until released.
    for (let i = 0; i < 10 && !received.includes('\n\n'); i++) received += (await reader.read()).value ?? ''
    expect(received).toBe('id: 0\nevent: tick\ndata: {"n":0}\n\n')
    expect(await originEvents(tag)).toEqual(['sse-sent-0'])
    // Admission's unit only: the cost is not known before the stream's end.
    expect(await used(`ip=${ip}`, ID)).toBe(1)

    await fetch(`${ORIGIN}/_control/release?tag=${tag}`, { method: 'POST' })
    let rest = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value
    expect(rest).toBe(`id: 1\nevent: tick\ndata: ${last}\n\n`)
    await waitOnExecutionContext(ctx)
    expect(await used(`ip=${ip}`, ID)).toBe(40)
  })

  it('a stream whose events carry no cost leaves minCost charged', async () => {
    const gw = costGateway({ mode: 'exact' })
    const [ip, tag] = [freshIp(), newTag()]
    const pending = gw.fetch('/sse', from(ip, tag))
    // The origin holds the stream until released; release it once the first event is out.
    await pollUntil(() => originEvents(tag), (events) => events.includes('sse-sent-0'))
    await fetch(`${ORIGIN}/_control/release?tag=${tag}`, { method: 'POST' })
    const res = await pending
    expect(await res.text()).toBe('id: 0\nevent: tick\ndata: {"n":0}\n\nid: 1\nevent: tick\ndata: {"n":1}\n\n')
    expect(await used(`ip=${ip}`, ID)).toBe(1)
  })
})

describe('reading an event stream', () => {
  /** A text/event-stream response whose body arrives in exactly these chunks. */
  const streamOf = (chunks: string[]) => {
    const encoder = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
        controller.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } })
  }
  const read = async (chunks: string[], maxBytes = 1024) => {
    const { response, reading } = teeBodyCost(streamOf(chunks), parsePath('usage.total_tokens'), maxBytes)
    expect(await response.text()).toBe(chunks.join(''))
    return reading
  }

  it('the last event carrying the path wins; [DONE], comments and other events are skipped; lines may end in CRLF split across chunks', async () => {
    const chunks = [
      ': keep-alive\r\n\r\ndata: {"usage":{"total_tokens":5}}\r',
      '\n\r\ndata: {"choices":[{"delta":"hi"}]}\n\n',
      'event: usage\ndata: {"usage":\ndata: {"total_tokens":40}}\n\n',
      'data: [DONE]\n\n',
    ]
    expect(await read(chunks)).toEqual({ cost: 40 })
  })

  it('an event over maxBytes is skipped, the one before it stands; a stream ending without a blank line still counts its last event', async () => {
    const big = `data: {"usage":{"total_tokens":99},"pad":"${'x'.repeat(200)}"}\n\n`
    expect(await read(['data: {"usage":{"total_tokens":7}}\n\n', big.slice(0, 100), big.slice(100)], 64)).toEqual({ cost: 7 })
    expect(await read(['data: {"usage":{"total_tokens":8}}'])).toEqual({ cost: 8 })
    expect(await read(['data: {"usage":{"total_tokens":-1}}\n\n'])).toEqual({ unread: 'no event carried usage.total_tokens' })
  })
})
