/** Test helpers for the resilience fleet (test/node/fleet.ts), routes to a pool, and a controllable clock. */
import { stoppedClock } from '../support/runtime'
import { testGateway, type TestGateway } from '../support/gateway'
import type { Runtime } from '../../src/core/runtime'
import type { GatewayConfigInput } from '../../src/config/schema'
import { env } from 'cloudflare:workers'

export const FLEET = env.FLEET_URL

export type Instance = { id: string; url: string }

export async function spawn(count: number): Promise<Instance[]> {
  return (await fetch(`${FLEET}/spawn?count=${count}`, { method: 'POST' })).json()
}

export async function setMode(instance: Instance, mode: 'up' | 'down' | 'fail' | 'hang' | 'reset', options: { status?: number; times?: number } = {}) {
  const q = new URLSearchParams({ mode })
  if (options.status !== undefined) q.set('status', String(options.status))
  if (options.times !== undefined) q.set('times', String(options.times))
  const res = await fetch(`${FLEET}/instances/${instance.id}/mode?${q}`, { method: 'POST' })
  if (!res.ok) throw new Error(`fleet: ${await res.text()}`)
}

/**
 * `arrivals`: when each counted request arrived (the fleet's clock), to compare them with each other;
 * `abandoned`: requests whose client closed the connection before the answer.
 */
export type InstanceStats = { count: number; health: number; requests: { method: string; path: string; body: string }[]; arrivals: number[]; abandoned: number }

export async function stats(instance: Instance): Promise<InstanceStats> {
  return (await fetch(`${FLEET}/instances/${instance.id}/stats`)).json()
}

/**
 * The fleet tests' clock (`stoppedClock` at a fixed start): the test moves it by hand (`advance`)
 * and can fix its random source (`setRandom`); hand it to the gateway (`poolGateway(pool, clock)`)
 * or to the state machine under test. Its timers stay real: the requests still need real I/O timeouts.
 */
export function controlClock(start = 1_700_000_000_000) {
  return stoppedClock(start)
}

/** Which instance answered (the fleet's `x-instance` header), or the status for an error. */
export async function who(res: Response): Promise<string> {
  await res.body?.cancel()
  return res.headers.get('x-instance') ?? `status:${res.status}`
}

export function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of values) out[v] = (out[v] ?? 0) + 1
  return out
}

/** The routes of a pool test: every path proxied to `upstream` (the pool by default). */
export const poolRoutes = (upstream = 'pool') => [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy' as const, upstream } }]

/** A gateway proxying every path to upstream `pool` (its config), on `runtime` when given. */
export function poolGateway(pool: NonNullable<GatewayConfigInput['upstreams']>[string], runtime?: Runtime): TestGateway {
  return testGateway({ upstreams: { pool }, routes: poolRoutes() }, {}, { runtime })
}

/** Asks `/x` `n` times, one after another (`init` gives each request's options): who answered each. */
export async function answers(gw: TestGateway, n: number, init?: (i: number) => RequestInit): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(await who(await gw.fetch('/x', init?.(i))))
  return out
}
