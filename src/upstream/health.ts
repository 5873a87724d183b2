/**
 * @module
 * Passive health, per isolate and per config (compiled with its upstream, on that config's
 * runtime clock): a target that fails `failures` times in a row (connection error,
 * timeout, or one of `statuses`) is ejected for a cool-off. Each ejection that follows a return
 * without a success in between doubles the cool-off, up to `maxEjectMs`; a success resets it.
 * An ejected target comes back when the cool-off ends, or earlier when the shared active health
 * state reports a probe that passed after the ejection (see `./active-health`).
 */
import { systemRuntime, type Runtime } from '../core/runtime'
import type { Target } from './pool'

export type Outcome = 'ok' | 'failed'

export type PassiveHealthConfig = { failures: number; statuses: number[]; ejectMs: number; maxEjectMs: number }

type TargetHealth = {
  consecutiveFailures: number
  /** Ejections in a row without a success since; sets the next cool-off. */
  ejections: number
  ejectedAt: number
  ejectedUntil: number
}

export type PassiveHealth = {
  /** Whether `target` may receive traffic now. `probedOkAt`: last passed active probe, if known. */
  available(target: Target, probedOkAt?: number): boolean
  record(target: Target, outcome: Outcome): void
  /** Whether a response status counts as a failure. */
  isFailure(status: number): boolean
  /** Milliseconds until the first ejected target returns (0 if none is ejected). */
  nextReturnIn(): number
  /** Milliseconds until `target`'s ejection ends (0: not ejected). A read only, unlike `available`. */
  ejectedFor(target: Target): number
}

export function createPassiveHealth(config: PassiveHealthConfig, targets: Target[], runtime: Runtime = systemRuntime): PassiveHealth {
  const state: TargetHealth[] = targets.map(() => ({ consecutiveFailures: 0, ejections: 0, ejectedAt: 0, ejectedUntil: 0 }))
  const failing = new Set(config.statuses)
  return {
    available(target, probedOkAt) {
      const s = state[target.index]!
      if (s.ejectedUntil === 0) return true
      const now = runtime.now()
      if (now >= s.ejectedUntil || (probedOkAt !== undefined && probedOkAt > s.ejectedAt)) {
        // Back on probation: one more failure ejects it again, for longer.
        s.ejectedUntil = 0
        s.consecutiveFailures = config.failures - 1
        return true
      }
      return false
    },
    record(target, outcome) {
      const s = state[target.index]!
      if (outcome === 'ok') {
        s.consecutiveFailures = 0
        s.ejections = 0
        return
      }
      if (++s.consecutiveFailures < config.failures || s.ejectedUntil !== 0) return
      const now = runtime.now()
      const coolOff = Math.min(config.maxEjectMs, config.ejectMs * 2 ** Math.min(s.ejections, 20))
      s.ejections++
      s.ejectedAt = now
      s.ejectedUntil = now + coolOff
    },
    isFailure: (status) => failing.has(status),
    nextReturnIn() {
      const now = runtime.now()
      let soonest = Infinity
      for (const s of state) if (s.ejectedUntil > now) soonest = Math.min(soonest, s.ejectedUntil - now)
      return soonest === Infinity ? 0 : soonest
    },
    ejectedFor(target) {
      return Math.max(0, state[target.index]!.ejectedUntil - runtime.now())
    },
  }
}
