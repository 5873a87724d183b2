/**
 * @module
 * Hedged requests (`hedge: { after, max }` on a proxy route or an aggregation call), against the
 * slow tail of an upstream: when the first try of a call has no answer after `after` ms, one more
 * try goes out (up to `max`, each `after` ms after the last), to another target of the pool, or to
 * the same one for a single origin. The first good answer (headers with a status below 500) wins;
 * every other try is aborted at once, its breaker slot and least-requests count given back.
 *
 * - Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) whose body can be sent again, and
 *   never a WebSocket upgrade: two upgrades would be two sessions.
 * - Each hedge takes a retry from the upstream's retry budget (without `retries`, a budget of the
 *   same defaults kept for hedges alone): when an upstream slows down for everyone, hedging stops
 *   adding load to it.
 * - None goes to a target whose breaker is open or half-open (a half-open target is being probed,
 *   and a probe must not be doubled), nor to one that is unhealthy or ejected.
 * - Hedges wait for headers no longer than the first try would have: the race ends when the first
 *   try's header timeout does, so a hedge adds subrequests (`max` per call, counted in the route's
 *   budget) but no time to the route's worst case. Only the first try of a call is hedged; when
 *   every try of the race fails, the call's retries go on from there as usual.
 *
 * Only a call that sets `hedge` comes here (`client.ts`): a route without it pays nothing.
 */
import type { UpstreamLog } from '../core/logging'
import type { UpstreamRequest } from '../core/context'
import { IDEMPOTENT_METHODS } from '../routing/methods'
import { settle, timeLike, tryTarget, type Attempt, type CallInFlight } from './attempt'
import type { Target } from './pool'
import { RetryBudget } from './retry'
import type { CompiledUpstream } from './upstream'

export type HedgeConfig = { after: number; max: number }

/** The budget hedges take from when the upstream has no `retries`: `RetrySchema`'s defaults. */
const HEDGE_ONLY_BUDGET = { percent: 20, minRetries: 3, window: 10_000 }

/** Whether this request may be hedged at all: an idempotent method, a body that can be sent again, no upgrade. */
export function mayHedge(request: UpstreamRequest, replayable: boolean): boolean {
  return IDEMPOTENT_METHODS.has(request.method) && replayable && !request.headers.has('upgrade')
}

/**
 * The budget a hedge takes a retry from, having counted this call as a request in it: the retry
 * budget (its requests are counted when the call plans its tries), else one kept for hedges alone,
 * made on the first hedged call (per config, on the compiled upstream).
 */
export function hedgeBudget(upstream: CompiledUpstream): RetryBudget {
  if (upstream.retry) return upstream.retry.budget
  const budget = (upstream.hedgeBudget ??= new RetryBudget(HEDGE_ONLY_BUDGET, upstream.runtime))
  budget.request()
  return budget
}

/** One try of the race: its own abort (to cancel it alone) and its own log, merged into the call's if it wins. */
type Racer = { target: Target; controller: AbortController; log: UpstreamLog; running: boolean; settled: boolean }

/** What a race needs from the call it is part of. */
export type Race = {
  call: CallInFlight
  hedge: HedgeConfig
  budget: RetryBudget
  /** Time the first try may wait for headers; every hedge ends with it. */
  timeoutMs: number
  /** A target for the next hedge, not one of `racing` (unless the upstream has one target), whose breaker is closed. */
  nextTarget(racing: ReadonlySet<Target>): Target | undefined
}

export type RaceResult = { outcome: Attempt; target: Target; targets: Target[] }

const isGood = (attempt: Attempt) => attempt.response !== undefined && attempt.response.status < 500

/**
 * Sends the first try to `first` (whose breaker slot the caller took and hands over), and hedges
 * while it waits. Resolves with the answer to keep (the first good one, else the last to fail)
 * and its target, once every other try is cancelled or settled; rejects only when a try threw.
 */
export function raceTries(race: Race, first: Target): Promise<RaceResult> {
  const { call, hedge, budget } = race
  const { upstream, log } = call
  const runtime = upstream.runtime
  const end = runtime.now() + race.timeoutMs
  const racers: Racer[] = []
  let timer: number | undefined
  let decided = false
  let lastFailure: { racer: Racer; outcome: Attempt } | undefined

  return new Promise<RaceResult>((resolve, reject) => {
    // Gives back the slot a try holds without an outcome, then aborts it (its least-requests count
    // goes back in its abort listener). At once, not when its fetch has unwound: a client that
    // went away may end the request's work at its next `await`.
    const cancel = (racer: Racer) => {
      if (!racer.settled) {
        racer.settled = true
        upstream.breakers?.[racer.target.index]?.release()
      }
      racer.controller.abort()
    }
    const onCallAbort = () => {
      runtime.clearTimeout(timer)
      racers.forEach(cancel)
    }
    const decide = (racer: Racer, outcome: Attempt | undefined, thrown?: unknown) => {
      decided = true
      runtime.clearTimeout(timer)
      call.signal?.removeEventListener('abort', onCallAbort)
      for (const other of racers) if (other !== racer && other.running) cancel(other)
      mergeLog(log, racer, racers)
      if (!outcome) return reject(thrown)
      resolve({ outcome, target: racer.target, targets: racers.map((r) => r.target) })
    }
    const finished = (racer: Racer, outcome: Attempt | undefined, thrown?: unknown) => {
      racer.running = false
      if (!racer.settled) {
        racer.settled = true
        settle(upstream, racer.target, outcome, racer.controller.signal, log)
      }
      if (decided) return void outcome?.response?.body?.cancel().catch(() => {})
      if (!outcome) return decide(racer, undefined, thrown)
      if (isGood(outcome)) return decide(racer, outcome)
      lastFailure?.outcome.response?.body?.cancel().catch(() => {})
      lastFailure = { racer, outcome }
      // A failure with other tries still out waits for them; with none, it is the race's answer.
      if (!racers.some((r) => r.running)) decide(racer, outcome)
    }
    const launch = (target: Target) => {
      const racer: Racer = { target, controller: new AbortController(), log: { name: log.name }, running: true, settled: false }
      racers.push(racer)
      log.tries = racers.length
      timeLike(racer.log, log, runtime.now())
      tryTarget({ ...call, signal: racer.controller.signal, log: racer.log }, target, Math.max(0, end - runtime.now())).then(
        (outcome) => finished(racer, outcome),
        (err: unknown) => finished(racer, undefined, err),
      )
    }
    const hedgeLater = () => {
      timer = runtime.setTimeout(() => {
        timer = undefined
        if (decided || call.signal?.aborted || runtime.now() >= end) return
        const target = race.nextTarget(new Set(racers.map((r) => r.target)))
        // Budget last: a hedge that can't go takes nothing from it.
        if (!target || !budget.tryRetry()) return
        upstream.breakers?.[target.index]?.acquire()
        launch(target)
        if (racers.length <= hedge.max) hedgeLater()
      }, hedge.after)
    }
    call.signal?.addEventListener('abort', onCallAbort)
    launch(first)
    if (call.signal?.aborted) onCallAbort()
    else hedgeLater()
  })
}

/** The call's log takes the winner's status, error and time; `hedges` and `hedgeWon` say how the race went. */
function mergeLog(log: UpstreamLog, winner: Racer, racers: Racer[]): void {
  const won = winner.log
  log.target = winner.target.label
  if (won.status !== undefined) log.status = won.status
  else delete log.status
  if (won.error !== undefined) log.error = won.error
  else delete log.error
  if (won.durationMs !== undefined) log.durationMs = won.durationMs
  if (racers.length > 1) {
    log.hedges = racers.length - 1
    log.hedgeWon = winner !== racers[0]
  }
}
