/** Shared by the aggregation tests: a config with one aggregate route over the test origin. */
import type { GatewayConfigInput } from '../../src/config/schema'
import { ORIGIN, testGateway, type Echo } from '../support/gateway'

type ActionInput = Extract<GatewayConfigInput['routes'][number]['action'], { type: 'aggregate' }>
export type CallInput = ActionInput['calls'][number]

/**
 * One aggregate route over the test origin. Its calls forward the client's `x-test-tag` (the
 * origin's log and stats are per tag), and no other client header unless `extra` says so.
 */
export function aggregateConfig(calls: CallInput[], extra: Partial<ActionInput> = {}, route: Record<string, unknown> = {}): GatewayConfigInput {
  return {
    upstreams: { origin: { url: ORIGIN } },
    routes: [{ id: 'agg', match: { path: '/agg/:id' }, ...route, action: { type: 'aggregate', calls, forwardHeaders: ['x-test-tag'], ...extra } }],
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
