/**
 * @module
 * `x-edgeway-aggregate`: what a client of an `aggregate` route can rely on, from the action's
 * config. Per call: whether the answer needs it (`required`), whether it is in the response at all
 * (`output`) and where (`group`, `append`), which client headers reach its backend as sent
 * (`forwardHeaders`: "*" is every one but credentials), whether it may be sent more than once
 * (`hedge`) and how stale its part may be (`cacheSeconds`, the call cache's bound). For the whole:
 * the member listing failed optional calls (`errorsKey`, with bodies when `errorDetails`), what an
 * answer with every merged call failed is (`onAllFailed`) and what a failing required call gives
 * (`errors`: a 502 problem, or its own answer passed through). Nothing about costs, budgets or the
 * shaping rules: those are the gateway's business, and the response schema says the shape.
 * The action's config is read through plain objects: `openapi/` and `aggregate/` are siblings.
 */
type Obj = Record<string, any>

/** The effective client headers a call forwards: its own list, else the action's (none by default). */
const forwardedBy = (call: Obj, action: Obj): string[] => (call.forwardHeaders ?? action.forwardHeaders ?? []) as string[]

function callOf(call: Obj, action: Obj): Obj {
  const forward = forwardedBy(call, action)
  return {
    name: call.name,
    upstream: call.upstream,
    required: call.required !== false,
    output: call.output !== false,
    ...(call.group !== undefined && { group: call.group }),
    ...(call.append !== undefined && { append: call.append }),
    ...(forward.length > 0 && { forwardHeaders: forward }),
    ...(call.hedge !== undefined && { hedge: true }),
    ...(call.cache !== undefined && { cacheSeconds: call.cache.ttl }),
  }
}

export function aggregateExtension(action: Obj): Obj {
  return {
    calls: (action.calls as Obj[]).map((call) => callOf(call, action)),
    errorsKey: action.errorsKey ?? 'errors',
    errorDetails: action.errorDetails === true,
    onAllFailed: action.onAllFailed ?? 'error',
    errors: action.errors ?? 'problem',
  }
}
