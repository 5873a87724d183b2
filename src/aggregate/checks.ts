/**
 * @module
 * Config checks of an `aggregate` action that span fields: call names, template references
 * (unknown calls, unknown members, route params), cycles, upstreams, required-after-optional,
 * the deadline against the longest chain of call timeouts, and the subrequests it costs.
 */
import type { RouteView } from '../core/config-view'
import { own } from '../core/record'
import type { UpstreamConfig } from '../upstream/schema'
import { checkTemplateRefs } from '../template/check'
import { parsePath, pathRoot } from '../template/path'
import { REQUEST_TEMPLATE_ROOTS } from '../template/scope'
import { checkHedge, upstreamSubrequests, upstreamWorstMs } from '../upstream/checks'
import { CALL_MEMBERS, dependencies, findCycle, isRequestRoot, longestChain, PLATFORM_OPEN_CONNECTIONS, templateSites, topologicalOrder, worstCaseWaves } from './plan'
import type { AggregateActionConfig, AggregateCallConfig } from './schema'

type Add = (path: string, message: string) => void
/** The config's upstreams: what these checks read of it. */
type Upstreams = { readonly upstreams: Readonly<Record<string, UpstreamConfig>> }

const listOf = (names: Iterable<string>) => [...names].join(', ') || 'none'

/**
 * Subrequests one call can cost, as for a proxy route to the same upstream: every try
 * (1 + `retries.attempts`, per `RetrySchema`), the shared health-state read and the fallback's tries.
 */
export function upstreamAttempts(config: Upstreams, upstream: string): number {
  return upstreamSubrequests(config, upstream)
}

/** The time a call runs under: its own, else what a proxy route waits for its upstream (tries and backoff). */
export function callTimeout(call: AggregateCallConfig, config: Upstreams): number {
  const upstream = own(config.upstreams, call.upstream)
  return call.timeout ?? (upstream ? upstreamWorstMs(upstream) : 15_000)
}

function checkShape(call: AggregateCallConfig, at: string, add: Add): void {
  for (const [i, source] of (call.allow ?? []).entries()) {
    if (parsePath(source).steps.some((step) => step.kind === 'index')) add(`${at}.allow[${i}]`, `"${source}": allow paths take names and "[]", not indexes`)
  }
  for (const source of Object.keys(call.rename ?? {})) {
    let last
    try {
      last = parsePath(source).steps.at(-1)
    } catch (err) {
      add(`${at}.rename`, (err as Error).message)
      continue
    }
    if (last?.kind !== 'key') add(`${at}.rename`, `"${source}" must end with a field name`)
  }
  if (call.raw && (call.select ?? call.collect ?? call.allow ?? call.deny ?? call.rename) !== undefined) {
    add(at, 'a raw call is passed as a string: select, collect, allow, deny and rename need JSON')
  }
  if (call.body !== undefined && (call.method === 'GET' || call.method === 'HEAD')) add(`${at}.body`, `a ${call.method} call sends no body; set "method"`)
  if (call.cache && call.method !== 'GET') add(`${at}.cache`, `only GET calls are cached (this one is ${call.method})`)
  for (const [i, source] of (call.append ?? []).entries()) {
    if (parsePath(source).steps.some((step) => step.kind !== 'key')) add(`${at}.append[${i}]`, `"${source}": append paths name fields (\`items\`, \`data.items\`), not "[]" or indexes`)
  }
}

/** `errors: "passthrough"` answers with the required call's error: there must be exactly one. */
function checkErrorOptions(action: AggregateActionConfig, at: string, add: Add): void {
  if (action.errors !== 'passthrough') return
  const required = action.calls.filter((call) => call.required).map((call) => call.name)
  if (required.length !== 1) {
    add(`${at}.errors`, `"passthrough" answers with the one required call's error, but ${required.length === 0 ? 'no call is required' : `${required.length} calls are (${required.join(', ')})`}; make exactly one call required`)
  }
}

/**
 * Calls get none of the client's headers unless `forwardHeaders` names them (since the change that
 * stopped forwarding `Authorization` and `Cookie` to every call): behind an auth policy, a route
 * that relied on calls receiving the client's token now sends none. Said, not refused.
 */
function noticeForwarding(action: AggregateActionConfig, at: string, authPolicies: readonly string[], notice: Add): void {
  if (authPolicies.length === 0 || action.forwardHeaders !== undefined || action.calls.some((call) => call.forwardHeaders !== undefined)) return
  notice(
    `${at}.forwardHeaders`,
    `the route has an auth policy (${[...new Set(authPolicies)].join(', ')}) and its calls get none of the client's headers, Authorization and Cookie included; if a backend needs the client's credentials, name them (e.g. "forwardHeaders": ["Authorization"]), or set "forwardHeaders": [] to say none is needed`,
  )
}

/**
 * A cached call's key holds its rendered path and query but not its own headers: a header that
 * reads the request, or a call whose answer depends on the request (what it reads, transitively),
 * would share one entry between clients unless `cache.key` says whose answer it is.
 */
function checkCacheKeys(calls: readonly AggregateCallConfig[], deps: number[][], at: string, add: Add): void {
  const sites = calls.map((call) => templateSites(call).filter((site) => site.field !== '.cache.key'))
  const perRequest: boolean[] = []
  for (const i of topologicalOrder(deps)) {
    perRequest[i] = deps[i]!.some((d) => perRequest[d]) || sites[i]!.some((site) => site.refs.some((ref) => isRequestRoot(pathRoot(ref))))
  }
  const index = new Map(calls.map((call, i) => [call.name, i]))
  calls.forEach((call, i) => {
    if (!call.cache || call.cache.key !== undefined) return
    for (const site of sites[i]!.filter((s) => s.field.startsWith('.headers.'))) {
      const ref = site.refs.find((r) => isRequestRoot(pathRoot(r)) || perRequest[index.get(pathRoot(r))!])
      if (!ref) continue
      const root = pathRoot(ref)
      const reads = isRequestRoot(root) ? 'reads the request' : `reads call "${root}", whose answer depends on the request,`
      add(
        `${at}.calls[${i}].cache.key`,
        `required: header "${site.field.slice('.headers.'.length)}" ${reads} in "{${ref.source}}" and a call's headers are not part of its cache key; set "key" to what tells the answers apart (e.g. "{${ref.source}}")`,
      )
      return
    }
  })
}

/** Each call on its own: a unique name that isn't a request variable, a known upstream, its shape. Returns the names. */
function checkCalls(calls: readonly AggregateCallConfig[], at: string, config: Upstreams, add: Add): Map<string, number> {
  const names = new Map<string, number>()
  calls.forEach((call, i) => {
    const callAt = `${at}.calls[${i}]`
    const first = names.get(call.name)
    if (first !== undefined) add(`${callAt}.name`, `duplicate call name "${call.name}" (also calls[${first}])`)
    else names.set(call.name, i)
    if (isRequestRoot(call.name)) add(`${callAt}.name`, `"${call.name}" is a request template variable; pick another name`)
    if (!own(config.upstreams, call.upstream)) {
      add(`${callAt}.upstream`, `unknown upstream "${call.upstream}" (known: ${listOf(Object.keys(config.upstreams))})`)
    }
    checkShape(call, callAt, add)
    const upstream = own(config.upstreams, call.upstream)
    if (call.hedge && upstream) {
      const headers = upstream.timeouts.headers
      const wait = call.timeout !== undefined && call.timeout < headers ? { ms: call.timeout, what: 'the call\'s timeout' } : { ms: headers, what: `timeouts.headers of "${call.upstream}"` }
      checkHedge(call.hedge, `${callAt}.hedge`, [call.method], wait, add)
    }
  })
  return names
}

/**
 * Every template reference of every call: request variables the route has, calls that exist, and
 * a call's members rather than the call as a whole. False when the calls' dependencies can't be
 * worked out (a template that doesn't parse, an unknown call).
 */
function checkReferences(calls: readonly AggregateCallConfig[], names: Map<string, number>, at: string, params: string[], add: Add): boolean {
  let templatesOk = true
  calls.forEach((call, i) => {
    const callAt = `${at}.calls[${i}]`
    let sites
    try {
      sites = templateSites(call)
    } catch (err) {
      add(callAt, (err as Error).message)
      templatesOk = false
      return
    }
    for (const site of sites) {
      for (const ref of site.refs) {
        const root = pathRoot(ref)
        if (isRequestRoot(root)) {
          const problem = checkTemplateRefs([ref], REQUEST_TEMPLATE_ROOTS, params)
          if (problem) add(`${callAt}${site.field}`, problem)
        } else if (!names.has(root)) {
          templatesOk = false
          const known = calls.filter((other) => other !== call).map((other) => other.name)
          add(`${callAt}${site.field}`, `unknown call "${root}" in "{${ref.source}}" (known: ${listOf(known)})`)
        } else {
          const member = ref.steps[1]
          if (member?.kind !== 'key' || !(CALL_MEMBERS as readonly string[]).includes(member.name)) {
            add(`${callAt}${site.field}`, `"{${ref.source}}" reads call "${root}" as a whole; read its ${CALL_MEMBERS.join(', ')}`)
          }
        }
      }
    }
  })
  return templatesOk
}

/** A required call can't wait on an optional one: when that one fails, the required one can't run. */
function checkRequiredAfterOptional(calls: readonly AggregateCallConfig[], deps: number[][], at: string, add: Add): void {
  deps.forEach((own, i) => {
    const call = calls[i]!
    const optional = own.find((d) => !calls[d]!.required)
    if (call.required && optional !== undefined) {
      add(
        `${at}.calls[${i}]`,
        `required call "${call.name}" depends on optional call "${calls[optional]!.name}"; make "${call.name}" optional or "${calls[optional]!.name}" required`,
      )
    }
  })
}

/** The route's deadline must cover the longest chain of dependent calls' timeouts. */
function checkDeadline(route: RouteView, routeAt: string, calls: readonly AggregateCallConfig[], deps: number[][], config: Upstreams, add: Add): void {
  if (route.deadline === undefined) return
  const longest = longestChain(deps, calls.map((call) => callTimeout(call, config)))
  if (longest.ms > route.deadline) {
    add(
      `${routeAt}.deadline`,
      `${route.deadline} ms does not cover the longest chain of calls ${longest.chain.map((i) => calls[i]!.name).join(' -> ')} (${longest.ms} ms of call timeouts); raise the deadline or lower the timeouts`,
    )
  }
}

/**
 * A notice (the config stays valid) when queueing can push a call past the deadline: calls run at
 * most `maxInFlight` at once, and in production at most 6 wait for headers at once whatever
 * `maxInFlight` says, so 20 calls run in waves. A call still queued at the deadline fails as
 * `timeout`. Worst case: every call takes its whole timeout. The deadline is the route's, else
 * the longest chain of call timeouts (what the action runs under without one).
 */
function checkQueueing(route: RouteView, action: AggregateActionConfig, routeAt: string, deps: number[][], config: Upstreams, notice: Add): void {
  const calls = action.calls
  const timeouts = calls.map((call) => callTimeout(call, config))
  const deadline = route.deadline ?? longestChain(deps, timeouts).ms
  const slots = Math.min(action.maxInFlight, PLATFORM_OPEN_CONNECTIONS)
  const { start, end } = worstCaseWaves(deps, timeouts, topologicalOrder(deps), slots)
  const late = calls.map((_, i) => i).filter((i) => end[i]! > deadline && start[i]! > 0)
  if (late.length === 0) return
  const first = late.reduce((a, b) => (start[b]! < start[a]! ? b : a))
  const whose = route.deadline !== undefined ? `the deadline of ${deadline} ms` : `the run's ${deadline} ms (the longest chain of call timeouts; the route sets no deadline)`
  const cap = action.maxInFlight > PLATFORM_OPEN_CONNECTIONS ? ` (maxInFlight ${action.maxInFlight}, but production lets ${PLATFORM_OPEN_CONNECTIONS} wait for headers at once)` : ` (maxInFlight ${action.maxInFlight})`
  notice(
    `${routeAt}.deadline`,
    `${calls.length} calls run at most ${slots} at once${cap}: in the worst case call "${calls[first]!.name}" waits in the queue until ${start[first]} ms and ends at ${end[first]} ms, past ${whose}; ${late.length} call(s) may fail as "timeout" without being sent. Raise the deadline, lower the call timeouts, or chain fewer calls behind each other`,
  )
}

/**
 * Checks the action; returns the subrequests it can make per request. `auth`: the types of the
 * auth-phase policies the route runs (its own and global), for `notice`s: said, not refused.
 */
export function checkAggregate(
  route: RouteView,
  action: AggregateActionConfig,
  routeAt: string,
  config: Upstreams,
  params: string[],
  add: Add,
  notices: { auth: readonly string[]; notice: Add } = { auth: [], notice: () => {} },
): number {
  const at = `${routeAt}.action`
  const calls = action.calls
  checkErrorOptions(action, at, add)
  noticeForwarding(action, at, notices.auth, notices.notice)
  const names = checkCalls(calls, at, config, add)
  const templatesOk = checkReferences(calls, names, at, params, add)
  if (!templatesOk || names.size !== calls.length) return calls.length
  const deps = dependencies(calls)
  const cycle = findCycle(deps)
  if (cycle) {
    add(`${at}.calls`, `cycle ${cycle.map((i) => calls[i]!.name).join(' -> ')}`)
    return calls.length
  }
  checkRequiredAfterOptional(calls, deps, at, add)
  checkCacheKeys(calls, deps, at, add)
  checkDeadline(route, routeAt, calls, deps, config, add)
  checkQueueing(route, action, routeAt, deps, config, notices.notice)
  // A cached call may also read and write the cache: two matches and two puts when the origin
  // sends Vary (as the cache policy counts), and the request reads the purge generation once.
  // A hedged call may send `hedge.max` more tries.
  return calls.reduce((sum, call) => sum + upstreamAttempts(config, call.upstream) + (call.hedge?.max ?? 0) + (call.cache ? 4 : 0), calls.some((call) => call.cache) ? 1 : 0)
}
