/**
 * Gateways served by the pool's own worker (`test/worker.ts`), reached through its fetch handler
 * like a client reaches a deployed worker. A request sent that way can be cancelled as a client
 * going away cancels it: workerd aborts the incoming request's `signal` (with the
 * `enable_request_signal` flag) and drops the rest of the request's work at its next `await`.
 *
 * The registry is per isolate, on `globalThis`: the test file and the worker's module share the
 * isolate but not necessarily one copy of this module.
 */
import { env, exports } from 'cloudflare:workers'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/parse'
import type { Env } from '../../src/core/env'
import type { RequestLog } from '../../src/core/logging'
import { createGateway, type GatewayOptions } from '../../src/gateway/create-gateway'

type Served = { fetch(request: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> }

/** The header naming which served gateway a request is for. */
export const SERVED_HEADER = 'x-test-served-gateway'

const REGISTRY = Symbol.for('edgeway.test.served-gateways')

export function servedGateways(): Map<string, Served> {
  const holder = globalThis as unknown as Record<symbol, Map<string, Served> | undefined>
  return (holder[REGISTRY] ??= new Map())
}

export type ServedGateway = {
  /** Sends a request through the worker's fetch handler; `init.signal` cancels it as a client would. */
  fetch(path: string, init?: RequestInit): Promise<Response>
  logs: RequestLog[]
}

/** A gateway from `config`, served by the pool's worker under a fresh id. */
export function servedGateway(config: GatewayConfigInput, options: GatewayOptions = {}): ServedGateway {
  const logs: RequestLog[] = []
  const app = createGateway(loadConfig(config), env as unknown as Env, { writeLog: (line) => logs.push(line), ...options })
  const id = crypto.randomUUID()
  servedGateways().set(id, app)
  return {
    logs,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers)
      headers.set(SERVED_HEADER, id)
      return exports.default.fetch(new Request(`http://gateway.test${path}`, { ...init, headers }))
    },
  }
}
