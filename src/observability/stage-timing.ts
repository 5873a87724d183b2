/**
 * @module
 * Stage timings for `Server-Timing` and OTLP spans: each policy is wrapped (only when `serverTiming`
 * or `gateway.telemetry.otlp` is on, so there is no cost otherwise) to add its own time, excluding
 * what runs after its `next()`, to its phase's total in `c.var.stageTimings`.
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

/**
 * Wraps a policy to time it: its phase's `Server-Timing` total and, when the request is sampled for
 * OTLP export, its span (`./spans.ts`), from its start until it hands on or answers itself.
 */
export function timedPolicy(phase: Phase, handler: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async function timed(c, next) {
    const started = performance.now()
    const span = c.get('spans')?.phase(phase)
    let downstream = 0
    try {
      return await handler(c, async () => {
        if (span) span.end ??= c.get('runtime').now()
        const inner = performance.now()
        try {
          await next()
        } finally {
          downstream += performance.now() - inner
        }
      })
    } catch (err) {
      // The policy's own refusal (a 401, a 429): thrown before it handed on.
      if (span && span.end === undefined) span.error = span.attributes['error.type'] = String((err as { code?: unknown }).code ?? 'error')
      throw err
    } finally {
      if (span) span.end ??= c.get('runtime').now()
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
