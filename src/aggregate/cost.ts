/**
 * @module
 * What an aggregation cost, for a `rate-limit` policy with `actionCost`: the sum over its calls of
 * what each call that its upstream answered costs (its `cost`, or the whole number at its
 * `costPath` in its JSON answer when there is one). A call answered from the call cache, or never
 * answered (skipped, queued, timed out, unreachable, not sent), costs nothing. Published on the
 * context (`actionCost`, `core/context`): the action never learns who reads it.
 */
import { isRawNumber } from '../core/exact-json'
import { getPath, parsePath } from '../template/path'
import type { CallLog, CallResult } from './call'
import type { AggregateCallConfig } from './schema'

/** The most one call may report: as a response may (`rate-limit`'s own cap). */
const MAX_CALL_COST = 1_000_000_000

type CallCost = { name: string; fixed: number; read: ((body: unknown) => unknown) | undefined }

/** A whole number from 0 to MAX_CALL_COST (an exact number is read from its JSON text). */
function wholeCost(value: unknown): number | undefined {
  const n = isRawNumber(value) ? Number(value.rawJSON) : value
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_CALL_COST ? n : undefined
}

/**
 * The action's cost function, or undefined when no call declares a cost (the action then reports
 * none, and a policy's `minCost` stands).
 */
export function compileActionCost(calls: readonly AggregateCallConfig[]): ((logs: readonly CallLog[], results: ReadonlyMap<string, CallResult>) => number) | undefined {
  const costs: CallCost[] = calls
    .filter((call) => call.cost !== undefined || call.costPath !== undefined)
    .map((call) => {
      const path = call.costPath === undefined ? undefined : parsePath(call.costPath)
      return { name: call.name, fixed: call.cost ?? 0, read: path && ((body: unknown) => getPath(body, path)) }
    })
  if (costs.length === 0) return undefined
  return (logs, results) => {
    let total = 0
    for (const { name, fixed, read } of costs) {
      const log = logs.find((entry) => entry.call === name)
      // A cached answer, or a fallback's static one, was not made by the paid upstream.
      if (log?.status === undefined || log.cache === 'HIT' || log.fallback === 'response') continue
      const result = results.get(name)
      total += (read && result && wholeCost(read(result.body))) ?? fixed
    }
    return total
  }
}
