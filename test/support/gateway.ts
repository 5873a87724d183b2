/**
 * Gateways for tests, run inside workerd: build one from a config object (or from one route around
 * a policy, `routeGateway` / `policyGateway`) and call it; talk to the controllable test origin's
 * control API. Built on the test kit (src/testing, `edgeway/testing`), with this repository's
 * shorthands for its own configs.
 */
import type { GatewayConfig, GatewayConfigInput } from '../../src/config/schema'
import type { GatewayOptions } from '../../src/gateway/create-gateway'
import { ORIGIN_URL, parsedTestGateway, testGateway as kitGateway, type OriginRequest, type TestGateway } from '../../src/testing/workerd'

export type { Echo } from '../../src/testing/workerd'
export type { OriginRequest, TestGateway }

export const ORIGIN = ORIGIN_URL

/** A gateway built from `config` (validated), with the pool's bindings plus `extraEnv` (the test kit's `testGateway`). */
export function testGateway(config: GatewayConfigInput, extraEnv: Record<string, unknown> = {}, options: GatewayOptions = {}): TestGateway {
  return kitGateway(config, { env: extraEnv, ...options })
}

/** A gateway built from a config already parsed (a test may change it first), as `testGateway`. */
export function parsedGateway(config: GatewayConfig, extraEnv: Record<string, unknown> = {}, options: GatewayOptions = {}): TestGateway {
  return parsedTestGateway(config, { env: extraEnv, ...options })
}

/** A fresh tag: send it as `x-test-tag` so the origin's log and stats are this test's alone. */
export function newTag(): string {
  return crypto.randomUUID()
}

export async function originLog(tag: string): Promise<OriginRequest[]> {
  return (await fetch(`${ORIGIN}/_control/log?tag=${tag}`)).json()
}

export async function originStats(tag: string): Promise<{ inFlight: number; maxInFlight: number; count: number }> {
  return (await fetch(`${ORIGIN}/_control/stats?tag=${tag}`)).json()
}

export async function originEvents(tag: string): Promise<string[]> {
  return (await fetch(`${ORIGIN}/_control/events?tag=${tag}`)).json()
}

/** A minimal valid config proxying everything to the test origin; override what a test needs. */
export function originConfig(overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return { ...routeConfig({ id: 'all' }), ...overrides }
}

export type RouteInput = GatewayConfigInput['routes'][number]
export type PolicyInput = NonNullable<RouteInput['policies']>[number]

/** The action most tests end in: proxy to the test origin (upstream `origin`). */
export const TO_ORIGIN = { type: 'proxy', upstream: 'origin' } as const

/**
 * A config with the test origin as upstream `origin` and one route: `route` overrides its defaults
 * (id `r`, every path, a proxy to the origin), `overrides` the rest of the config.
 */
export function routeConfig(route: Partial<RouteInput> = {}, overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    upstreams: { origin: { url: ORIGIN } },
    ...overrides,
    routes: [{ id: 'r', match: { path: '/*' }, action: TO_ORIGIN, ...route }],
  }
}

/** What else a one-route test gateway gets: the rest of its config, extra bindings, gateway options. */
export type RouteGatewayExtras = { config?: Partial<GatewayConfigInput>; env?: Record<string, unknown> } & GatewayOptions

/** A gateway with one route (see `routeConfig`) in front of the test origin. */
export function routeGateway(route: Partial<RouteInput> = {}, { config, env: extraEnv, ...options }: RouteGatewayExtras = {}): TestGateway {
  return testGateway(routeConfig(route, config), extraEnv, options)
}

/**
 * A gateway with one route around one policy: `{ type, ...options }` is the policy, `route`
 * overrides the route's defaults (id `r`, every path, a proxy to the origin).
 *
 * @example policyGateway('ip-rules', { deny: ['192.0.2.0/24'] })
 */
export function policyGateway(type: string, options: Record<string, unknown> = {}, route: Partial<RouteInput> = {}, extras: RouteGatewayExtras = {}): TestGateway {
  return routeGateway({ policies: [{ type, ...options } as PolicyInput], ...route }, extras)
}

/** SHA-256 hex of a text, written independently of the gateway's own (tests compare against it). */
export async function sha256Hex(text: string): Promise<string> {
  const hash = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, '0')).join('')
}
