/** Config validation of the `aggregate` action: each problem with its exact message and path. */
import { describe, expect, it } from 'vitest'
import { aggregateConfig, type CallInput } from './helpers'
import { configProblems } from '../support/config'

function problems(calls: CallInput[], route: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): string[] {
  return configProblems({ ...aggregateConfig(calls, {}, route), ...extra })
}

const call = (name: string, path: string, more: Partial<CallInput> = {}): CallInput => ({ name, upstream: 'origin', path, ...more })

describe('aggregate: config validation', () => {
  it('accepts a valid graph', () => {
    expect(problems([call('user', '/u/{params.id}'), call('orders', '/o/{user.body.id}'), call('c', '/c', { query: { a: '{orders.body.items[].id}' } })])).toEqual([])
  })

  it('rejects a cycle', () => {
    expect(problems([call('user', '/u/{orders.body.id}'), call('orders', '/o/{user.body.id}')])).toEqual([
      'routes[0].action.calls: cycle user -> orders -> user',
    ])
  })

  it('rejects a longer cycle and a call that reads itself', () => {
    expect(problems([call('a', '/a'), call('b', '/b/{d.body.x}'), call('c', '/c/{b.status}'), call('d', '/d', { headers: { 'x-c': '{c.headers.etag}' } })])).toEqual([
      'routes[0].action.calls: cycle b -> d -> c -> b',
    ])
    expect(problems([call('self', '/s/{self.body.id}')])).toEqual(['routes[0].action.calls: cycle self -> self'])
  })

  it('rejects an unknown call reference, naming the field and the known calls', () => {
    expect(problems([call('user', '/u'), call('orders', '/o'), call('c', '/c/{usr.body.id}')])).toEqual([
      'routes[0].action.calls[2].path: unknown call "usr" in "{usr.body.id}" (known: user, orders)',
    ])
    expect(problems([call('user', '/u'), call('p', '/p', { method: 'POST', body: { id: '{userr.body}' } })])).toEqual([
      'routes[0].action.calls[1].body: unknown call "userr" in "{userr.body}" (known: user)',
    ])
  })

  it('rejects an unknown upstream', () => {
    expect(problems([call('user', '/u', { upstream: 'users' })])).toEqual([
      'routes[0].action.calls[0].upstream: unknown upstream "users" (known: origin)',
    ])
  })

  it('rejects reading a call other than through status, headers or body', () => {
    expect(problems([call('user', '/u'), call('o', '/o/{user.id}')])).toEqual([
      'routes[0].action.calls[1].path: "{user.id}" reads call "user" as a whole; read its status, headers, body',
    ])
  })

  it('checks request references and template syntax in calls', () => {
    expect(problems([call('user', '/u/{params.user}')])).toEqual([
      'routes[0].action.calls[0].path: unknown path parameter "user" (the route declares: id)',
    ])
    expect(problems([call('user', '/u', { method: 'POST', body: { x: '{oops' } })])).toEqual([
      'routes[0].action.calls[0]: invalid template "{oops": unclosed "{"',
    ])
  })

  it('rejects duplicate and reserved call names', () => {
    expect(problems([call('user', '/u'), call('user', '/v'), call('params', '/p')])).toEqual([
      'routes[0].action.calls[1].name: duplicate call name "user" (also calls[0])',
      'routes[0].action.calls[2].name: "params" is a request template variable; pick another name',
    ])
  })

  it('rejects a required call that depends on an optional one', () => {
    expect(problems([call('user', '/u', { required: false }), call('orders', '/o/{user.body.id}')])).toEqual([
      'routes[0].action.calls[1]: required call "orders" depends on optional call "user"; make "orders" optional or "user" required',
    ])
  })

  it('checks the deadline against the longest chain of call timeouts', () => {
    const calls = [call('user', '/u', { timeout: 1000 }), call('orders', '/o/{user.body.id}', { timeout: 600 }), call('recs', '/r', { timeout: 1500 })]
    expect(problems(calls, { deadline: 1500 })).toEqual([
      'routes[0].deadline: 1500 ms does not cover the longest chain of calls user -> orders (1600 ms of call timeouts); raise the deadline or lower the timeouts',
    ])
    expect(problems(calls, { deadline: 1600 })).toEqual([])
    // A call without its own timeout counts its upstream's `timeouts.headers` (15 s by default).
    expect(problems([call('user', '/u')], { deadline: 10_000 })[0]).toContain('(15000 ms of call timeouts)')
  })

  it('counts every call into the subrequest budget', () => {
    const many = Array.from({ length: 51 }, (_, i) => call(`c${i}`, '/x'))
    expect(problems(many)).toEqual([
      'routes[0]: needs up to 51 subrequests per request (action 51, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
    expect(problems(many, {}, { gateway: { plan: 'paid' } })).toEqual([])
    // A cached call may also read and write the cache (two matches, two puts with Vary): 5 each,
    // plus one read of the purge generation for the request.
    const cached = Array.from({ length: 10 }, (_, i) => call(`c${i}`, '/x', { cache: { ttl: 60 } }))
    expect(problems(cached)).toEqual([
      'routes[0]: needs up to 51 subrequests per request (action 51, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
  })

  it('checks a hedged call: idempotent methods only, hedges inside its timeout, counted as subrequests', () => {
    const hedge = { after: 50 }
    expect(problems([call('c', '/c', { method: 'POST', hedge })])).toEqual([
      'routes[0].action.calls[0].hedge: hedges go only with idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE), never with POST, the only methods here; remove "hedge"',
    ])
    expect(problems([call('c', '/c', { timeout: 100, hedge: { after: 100 } })])).toEqual([
      'routes[0].action.calls[0].hedge.after: the last hedge would go after 100 ms, when the first try has given up (the call\'s timeout 100 ms); lower "after"',
    ])
    expect(problems([call('c', '/c', { hedge: { after: 50, max: 0 } })])).toEqual(['routes[0].action.calls[0].hedge.max: must be at least 1'])
    // 17 calls of one try and up to 2 hedges each: 51.
    const hedged = Array.from({ length: 17 }, (_, i) => call(`c${i}`, '/x', { hedge: { after: 50, max: 2 } }))
    expect(problems(hedged)).toEqual([
      'routes[0]: needs up to 51 subrequests per request (action 51, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
  })

  it('counts every try of a call to an upstream with retries (1 + retries.attempts), as for a proxy route', () => {
    const origin = { url: 'http://127.0.0.1:9' }
    const seventeen = Array.from({ length: 17 }, (_, i) => call(`c${i}`, '/x'))
    // `retries: {}` means the default of 2 retries: 3 tries a call, 17 x 3 = 51.
    expect(problems(seventeen, {}, { upstreams: { origin: { ...origin, retries: {} } } })).toEqual([
      'routes[0]: needs up to 51 subrequests per request (action 51, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
    const nine = Array.from({ length: 9 }, (_, i) => call(`c${i}`, '/x'))
    expect(problems(nine, {}, { upstreams: { origin: { ...origin, retries: { attempts: 5 } } } })).toEqual([
      'routes[0]: needs up to 54 subrequests per request (action 54, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
    expect(problems(nine, {}, { upstreams: { origin: { ...origin, retries: { attempts: 4 } } } })).toEqual([])
    // No retries configured, or none allowed: one try each.
    expect(problems(seventeen, {}, { upstreams: { origin: { ...origin, retries: { attempts: 0 } } } })).toEqual([])
    // A fallback upstream's tries count too: (1 + 1) + (1 + 2) = 5 a call, 11 calls = 55.
    const eleven = Array.from({ length: 11 }, (_, i) => call(`c${i}`, '/x'))
    expect(problems(eleven, {}, { upstreams: { origin: { ...origin, retries: { attempts: 1 }, fallback: { upstream: 'spare' } }, spare: { ...origin, retries: {} } } })).toEqual([
      'routes[0]: needs up to 55 subrequests per request (action 55, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
  })

  it('a call without a timeout runs as long as a proxied request may (every try and backoff): the deadline must cover that', () => {
    const upstreams = { origin: { url: 'http://127.0.0.1:9', timeouts: { headers: 1_000 }, retries: { attempts: 1, backoff: { base: 10, max: 100 } } } }
    expect(problems([call('a', '/a')], { deadline: 2_000 }, { upstreams })).toEqual([
      'routes[0].deadline: 2000 ms does not cover the longest chain of calls a (2100 ms of call timeouts); raise the deadline or lower the timeouts',
    ])
    expect(problems([call('a', '/a')], { deadline: 2_100 }, { upstreams })).toEqual([])
    expect(problems([call('a', '/a', { timeout: 1_500 })], { deadline: 2_000 }, { upstreams })).toEqual([])
  })

  it('rejects a body on a GET call', () => {
    expect(problems([call('a', '/a', { body: { x: 1 } })])).toEqual(['routes[0].action.calls[0].body: a GET call sends no body; set "method"'])
  })

  it('caches GET calls only', () => {
    expect(problems([call('a', '/a', { method: 'POST', cache: { ttl: 60 } })])).toEqual(['routes[0].action.calls[0].cache: only GET calls are cached (this one is POST)'])
  })

  it('checks shaping options', () => {
    expect(problems([call('a', '/a', { allow: ['items[0].id'], rename: { 'items[]': 'x' } })])).toEqual([
      'routes[0].action.calls[0].allow[0]: "items[0].id": allow paths take names and "[]", not indexes',
      'routes[0].action.calls[0].rename: "items[]" must end with a field name',
    ])
    expect(problems([call('a', '/a', { raw: true, select: 'x' })])).toEqual([
      'routes[0].action.calls[0]: a raw call is passed as a string: select, collect, allow, deny and rename need JSON',
    ])
    expect(problems([call('a', '/a', { select: 'x[' })])).toEqual(['routes[0].action.calls[0].select: invalid path "x[": missing "]"'])
    expect(problems([call('a', '/a', { append: ['items', 'data[].rows', 'x[0]'] })])).toEqual([
      'routes[0].action.calls[0].append[1]: "data[].rows": append paths name fields (`items`, `data.items`), not "[]" or indexes',
      'routes[0].action.calls[0].append[2]: "x[0]": append paths name fields (`items`, `data.items`), not "[]" or indexes',
    ])
    expect(problems([call('a', '/a', { forwardHeaders: ['Accept', 'bad name'] })])).toEqual(['routes[0].action.calls[0].forwardHeaders[1]: must be a valid header name'])
    expect(configProblems(aggregateConfig([call('a', '/a')], { onAllFailed: 'never' as 'empty' }))).toEqual([
      'routes[0].action.onAllFailed: expected "error" | "empty", received "never"',
    ])
  })

  it('rejects a bad structure with exact paths', () => {
    expect(configProblems(aggregateConfig([], { maxInFlight: 0 }))).toEqual([
      'routes[0].action.calls: needs at least one call',
      'routes[0].action.maxInFlight: Invalid value: Expected >=1 but received 0',
    ])
    expect(problems([call('1bad', '/a')])).toEqual([
      'routes[0].action.calls[0].name: must start with a letter or "_" and hold only letters, digits, "_" or "-" (at most 64)',
    ])
  })
})
