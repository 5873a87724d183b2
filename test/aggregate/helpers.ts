/** Shared by the aggregation tests: a config with one aggregate route over the test origin. */
import type { GatewayConfigInput } from '../../src/config/schema'
import { ORIGIN, testGateway, type Echo } from '../support/gateway'

type ActionInput = Extract<GatewayConfigInput['routes'][number]['action'], { type: 'aggregate' }>
export type CallInput = ActionInput['calls'][number]

export function aggregateConfig(calls: CallInput[], extra: Partial<ActionInput> = {}, route: Record<string, unknown> = {}): GatewayConfigInput {
  return {
    upstreams: { origin: { url: ORIGIN } },
    routes: [{ id: 'agg', match: { path: '/agg/:id' }, ...route, action: { type: 'aggregate', calls, ...extra } }],
  }
}

/** Builds the gateway and sends one GET /agg/42 with a fresh tag; returns the response and its JSON. */
export async function aggregate(tag: string, calls: CallInput[], extra: Partial<ActionInput> = {}, init: RequestInit = {}) {
  const gw = testGateway(aggregateConfig(calls, extra))
  const res = await gw.fetch('/agg/42', { ...init, headers: { 'x-test-tag': tag, ...(init.headers as Record<string, string>) } })
  const text = await res.text()
  return { res, body: JSON.parse(text) as Record<string, any>, gw }
}

/** Template text for a literal string: braces doubled. */
export const literal = (text: string) => text.replaceAll('{', '{{').replaceAll('}', '}}')

/** A call to the origin's `/json`, which answers `value` as a JSON body. */
export function jsonCall(name: string, value: unknown, more: Partial<CallInput> = {}): CallInput {
  return { name, upstream: 'origin', path: '/json', query: { value: literal(JSON.stringify(value)) }, ...more }
}

export type { Echo }

/**
 * Reads `read` until `done` holds, at most `tries` times 50 ms apart; returns the last reading
 * (the test's own assertion then says what was expected). For events that follow a response,
 * such as the origin seeing a connection close.
 */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, tries = 100): Promise<T> {
  let value = await read()
  for (let i = 1; i < tries && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    value = await read()
  }
  return value
}
