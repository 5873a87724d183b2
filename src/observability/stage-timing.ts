/**
 * @module
 * Stage timings for `Server-Timing`: each policy is wrapped (only when `serverTiming` is on, so
 * there is no cost otherwise) to add its own time, excluding what runs after its `next()`, to
 * its phase's total in `c.var.stageTimings`.
 *
 * In production a Worker's clock advances only on I/O (a Spectre mitigation), so a stage that does
 * no I/O (header edits, a JWT check with a cached key) reads 0 ms there; locally it reads real time.
 */
import type { MiddlewareHandler } from 'hono'
import type { AppEnv } from '../core/context'
import { PHASES, type Phase } from '../core/policy'

declare module 'hono' {
  interface ContextVariableMap {
    /** Milliseconds spent per pipeline phase, when `gateway.metrics.serverTiming` is on. */
    stageTimings: Partial<Record<Phase, number>> | undefined
  }
}

export function timedPolicy(phase: Phase, handler: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async function timed(c, next) {
    const started = performance.now()
    let downstream = 0
    try {
      return await handler(c, async () => {
        const inner = performance.now()
        try {
          await next()
        } finally {
          downstream += performance.now() - inner
        }
      })
    } finally {
      let timings = c.get('stageTimings')
      if (!timings) c.set('stageTimings', (timings = {}))
      timings[phase] = (timings[phase] ?? 0) + (performance.now() - started - downstream)
    }
  }
}

const NAMES: Record<Phase, string> = { request: 'request', auth: 'auth', 'rate-limit': 'ratelimit', cache: 'cache', transform: 'transform' }

const fmt = (ms: number) => Math.max(0, ms).toFixed(1)

/** The `Server-Timing` value: each phase that ran, the upstream call, and the total. */
export function serverTimingValue(timings: Partial<Record<Phase, number>> | undefined, upstreamMs: number | undefined, totalMs: number): string {
  const parts: string[] = []
  for (const phase of PHASES) {
    const ms = timings?.[phase]
    if (ms !== undefined) parts.push(`${NAMES[phase]};dur=${fmt(ms)}`)
  }
  if (upstreamMs !== undefined) parts.push(`upstream;dur=${fmt(upstreamMs)}`)
  parts.push(`total;dur=${fmt(totalMs)}`)
  return parts.join(', ')
}
