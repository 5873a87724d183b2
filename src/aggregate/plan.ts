/**
 * @module
 * The dependency graph of an aggregation: which calls a call's templates read (`{user.body.id}`
 * makes it wait for `user`), cycle detection, a topological order, and the longest chain of
 * timeouts (what the route's deadline must cover). Used at validation and when the route compiles.
 */
import { pathRoot, type ParsedPath } from '../template/path'
import { REQUEST_TEMPLATE_ROOTS } from '../template/scope'
import { compileJsonTemplate, compileTemplate } from '../template/template'
import type { AggregateCallConfig } from './schema'

/** What a template can read of an earlier call: `{user.status}`, `{user.headers.etag}`, `{user.body...}`. */
export const CALL_MEMBERS = ['status', 'headers', 'body'] as const

export type TemplateSite = {
  /** Where the template sits in the call, e.g. `.path`, `.query.page`, `.body`. */
  field: string
  source: string
  refs: readonly ParsedPath[]
}

/** Every template of a call with its field. Throws a template syntax error (caught by validation). */
export function templateSites(call: AggregateCallConfig): TemplateSite[] {
  const sites: TemplateSite[] = [{ field: '.path', source: call.path, refs: compileTemplate(call.path).refs }]
  for (const [name, source] of Object.entries(call.query ?? {})) sites.push({ field: `.query.${name}`, source, refs: compileTemplate(source).refs })
  for (const [name, source] of Object.entries(call.headers ?? {})) sites.push({ field: `.headers.${name}`, source, refs: compileTemplate(source).refs })
  if (call.body !== undefined) sites.push({ field: '.body', source: JSON.stringify(call.body), refs: compileJsonTemplate(call.body).refs })
  if (call.cache?.key !== undefined) sites.push({ field: '.cache.key', source: call.cache.key, refs: compileTemplate(call.cache.key).refs })
  return sites
}

/** Roots a template reads that are neither request data nor calls: reported as unknown calls. */
export function isRequestRoot(root: string): boolean {
  return (REQUEST_TEMPLATE_ROOTS as readonly string[]).includes(root)
}

/** For each call (by index), the indexes of the calls it reads, once each, in first-use order. */
export function dependencies(calls: readonly AggregateCallConfig[]): number[][] {
  const index = new Map(calls.map((call, i) => [call.name, i]))
  return calls.map((call) => {
    const deps = new Set<number>()
    for (const site of templateSites(call)) {
      for (const ref of site.refs) {
        const dep = index.get(pathRoot(ref))
        if (dep !== undefined) deps.add(dep)
      }
    }
    return [...deps]
  })
}

/** The first cycle found (as call indexes, first repeated at the end), or undefined. */
export function findCycle(deps: readonly number[][]): number[] | undefined {
  const state = new Array<'new' | 'open' | 'done'>(deps.length).fill('new')
  const stack: number[] = []
  const visit = (node: number): number[] | undefined => {
    state[node] = 'open'
    stack.push(node)
    for (const next of deps[node]!) {
      if (state[next] === 'open') return [...stack.slice(stack.indexOf(next)), next]
      if (state[next] === 'new') {
        const found = visit(next)
        if (found) return found
      }
    }
    stack.pop()
    state[node] = 'done'
    return undefined
  }
  for (let i = 0; i < deps.length; i++) {
    if (state[i] !== 'new') continue
    const found = visit(i)
    if (found) return found
  }
  return undefined
}

/** Call indexes so that each comes after what it reads; ties keep config order. Assumes no cycle. */
export function topologicalOrder(deps: readonly number[][]): number[] {
  const placed = new Set<number>()
  const order: number[] = []
  // At most n passes, each placing at least one call when there is no cycle.
  for (let pass = 0; pass < deps.length && order.length < deps.length; pass++) {
    deps.forEach((own, i) => {
      if (!placed.has(i) && own.every((d) => placed.has(d))) {
        placed.add(i)
        order.push(i)
      }
    })
  }
  return order
}

/** The chain of calls whose timeouts add up the most (`user -> orders`), and that sum. Assumes no cycle. */
export function longestChain(deps: readonly number[][], timeouts: readonly number[]): { ms: number; chain: number[] } {
  const best = new Map<number, { ms: number; chain: number[] }>()
  for (const i of topologicalOrder(deps)) {
    let before = { ms: 0, chain: [] as number[] }
    for (const d of deps[i]!) if (best.get(d)!.ms > before.ms) before = best.get(d)!
    best.set(i, { ms: before.ms + timeouts[i]!, chain: [...before.chain, i] })
  }
  let longest = { ms: 0, chain: [] as number[] }
  for (const entry of best.values()) if (entry.ms > longest.ms) longest = entry
  return longest
}

/**
 * Requests a Worker may have waiting for response headers at once, per request, in production
 * (Cloudflare's limit on simultaneous open connections; more fetches queue). Local workerd does
 * not enforce it.
 */
export const PLATFORM_OPEN_CONNECTIONS = 6

/**
 * When each call starts and ends in the worst case: every call takes its whole timeout, at most
 * `slots` run at once, and the rest queue in the order they became ready (ties in `order`), as
 * the executor (`./run`) queues them. So 20 calls of 1 s on 6 slots end at 4 s: four waves.
 * Assumes no cycle.
 */
export function worstCaseWaves(deps: readonly number[][], timeouts: readonly number[], order: readonly number[], slots: number): { start: number[]; end: number[] } {
  const start = new Array<number>(deps.length)
  const end = new Array<number>(deps.length)
  const free = new Array<number>(Math.max(1, slots)).fill(0)
  const rank = new Map(order.map((call, i) => [call, i]))
  const waiting = new Set(order)
  // Each pass schedules the earliest-ready call whose inputs are scheduled: ready times never go
  // down (a call is ready when an input ends, after that input was ready), so this is FIFO.
  while (waiting.size > 0) {
    let next: number | undefined
    let nextReady = Infinity
    for (const call of waiting) {
      if (!deps[call]!.every((d) => end[d] !== undefined)) continue
      const ready = Math.max(0, ...deps[call]!.map((d) => end[d]!))
      if (ready < nextReady || (ready === nextReady && rank.get(call)! < rank.get(next!)!)) [next, nextReady] = [call, ready]
    }
    if (next === undefined) break
    waiting.delete(next)
    const slot = free.indexOf(Math.min(...free))
    start[next] = Math.max(nextReady, free[slot]!)
    end[next] = start[next]! + timeouts[next]!
    free[slot] = end[next]!
  }
  return { start, end }
}
