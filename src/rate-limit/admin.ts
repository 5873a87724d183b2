/**
 * @module
 * Admin endpoints for rate limits (behind the admin token, like the rest of the admin API):
 *
 *   GET    {prefix}/rate-limits?key=ip%3D203.0.113.7   the key's live counters
 *   DELETE {prefix}/rate-limits?key=ip%3D203.0.113.7   forget them (the key starts afresh)
 *
 * `key` is the rendered limit key (`consumer=alice`, `ip=203.0.113.7`, `consumer=alice&route=orders`,
 * see `./keys`); `binding` picks the Durable Object binding (default `RATE_LIMITER`).
 */
import type { Context } from 'hono'
import type { AdminExtension } from '../admin'
import type { AppEnv } from '../context'
import type { RateLimiter } from '../durable-objects/rate-limiter'
import { GatewayError } from '../errors'
import { withTimeout } from './reserve'

const BINDING = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
const ADMIN_TIMEOUT_MS = 5000

function target(c: Context<AppEnv>): { key: string; stub: DurableObjectStub<RateLimiter> } {
  const key = c.req.query('key')
  if (!key || key.length > 1024) throw new GatewayError('ERR_BAD_REQUEST', { detail: 'Give the limit key as ?key=, e.g. ?key=ip%3D203.0.113.7' })
  const binding = c.req.query('binding') ?? 'RATE_LIMITER'
  const ns = BINDING.test(binding) ? (c.env[binding] as DurableObjectNamespace<RateLimiter> | undefined) : undefined
  if (!ns || typeof ns.idFromName !== 'function') {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: `"${binding}" is not a Durable Object binding of this Worker.` })
  }
  return { key, stub: ns.get(ns.idFromName(key)) }
}

async function call<T>(promise: Promise<T>): Promise<T> {
  try {
    return await withTimeout(promise, ADMIN_TIMEOUT_MS)
  } catch (err) {
    throw new GatewayError('ERR_RATE_LIMIT_UNAVAILABLE', { detail: 'The rate limiter did not answer.', cause: err })
  }
}

export const rateLimitAdmin: AdminExtension = (app) => {
  app.get('/rate-limits', async (c) => {
    const { key, stub } = target(c)
    const state = await call(Promise.resolve(stub.inspect()))
    return c.json({ key, now: new Date(state.now).toISOString(), counters: state.counters })
  })
  app.delete('/rate-limits', async (c) => {
    const { key, stub } = target(c)
    await call(Promise.resolve(stub.reset()))
    return c.json({ key, reset: true })
  })
}
