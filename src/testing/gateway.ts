/**
 * @module
 * The test kit's gateway (`edgeway/testing`, workerd side): a gateway built from a config inside
 * the vitest workers pool, with the project's custom policies and actions, the pool's bindings
 * and a runtime the test controls, called as a client would call it.
 *
 * @example
 * const gateway = testGateway(config, { policies: { 'tenant-check': tenantCheck }, runtime: stoppedClock() })
 * const res = await gateway.fetch('/orders', { headers: { authorization: `Bearer ${token}` } })
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { loadConfig } from '../config/parse'
import type { GatewayConfig } from '../config/schema'
import { checkExtensions, type Extensions } from '../core/custom'
import type { Env } from '../core/env'
import type { RequestLog } from '../core/logging'
import { createGateway, type GatewayOptions } from '../gateway/create-gateway'

export type TestGateway = {
  /** Calls the gateway like a client would (a path, or a full URL); waits for its `waitUntil` work before returning. */
  fetch(input: string, init?: RequestInit): Promise<Response>
  /** Its request log lines so far (one per request: status, route, consumer, error code...). */
  logs: RequestLog[]
}

export type TestGatewayOptions = GatewayOptions &
  Extensions & {
    /** Bindings beside the pool's own (secrets, vars): `{ ORDERS_KEY: '...' }`. */
    env?: Record<string, unknown> | undefined
  }

/**
 * A gateway from `config` (validated as the Worker validates it: a bad config throws a
 * `ConfigError` listing every problem), with the pool's bindings plus `options.env`.
 */
export function testGateway(config: unknown, options: TestGatewayOptions = {}): TestGateway {
  const { policies, actions, ...rest } = options
  checkExtensions({ policies, actions })
  return parsedTestGateway(loadConfig(config, { policies, actions }), rest)
}

/** A gateway from a config already parsed (a test may change it first), as `testGateway`. */
export function parsedTestGateway(config: GatewayConfig, options: Omit<TestGatewayOptions, keyof Extensions> = {}): TestGateway {
  const { env: extraEnv = {}, ...gatewayOptions } = options
  const logs: RequestLog[] = []
  const gatewayEnv = { ...env, ...extraEnv } as Env
  const app = createGateway(config, gatewayEnv, { writeLog: (line) => logs.push(line), ...gatewayOptions })
  return {
    logs,
    async fetch(input, init) {
      const url = input.startsWith('http') ? input : `http://gateway.test${input}`
      const ctx = createExecutionContext()
      const res = await app.fetch(new Request(url, init), gatewayEnv, ctx)
      await waitOnExecutionContext(ctx)
      return res
    },
  }
}
