/** Config validation: each bad config and the exact message(s) it must produce. */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { ConfigError } from '../../src/core/errors'
import { loadConfig, parseConfig } from '../../src/config/parse'
import type { Env } from '../../src/core/env'
import { createGateway } from '../../src/gateway/create-gateway'
import { baseConfig, configProblems, editedConfig, type Config } from '../support/config'

const base = baseConfig
const edit = editedConfig

/** The base config with route 0's deadline at 5 s over upstreams with these header timeouts, then `more`. */
function withDeadline(headerTimeouts: Record<string, number>, more: (config: Config) => void = () => {}): Config {
  return edit((c) => {
    for (const [upstream, headers] of Object.entries(headerTimeouts)) c.upstreams[upstream].timeouts = { headers }
    c.routes[0].deadline = 5_000
    more(c)
  })
}

const problemsOf = configProblems

const CASES: [string, Config | unknown, unknown[]][] = [
  ['not an object', 'routes', ['(root): expected Object, received "routes"']],
  ['routes missing', {}, ['routes: required']],
  ['unknown top-level key', edit((c) => (c.rotues = [])), ['rotues: unknown key, did you mean "routes"? (allowed: $schema, gateway, versioning, upstreams, consumers, plans, policies, routes)']],
  ['unknown key in a route', edit((c) => (c.routes[0].mathc = {})), ['routes[0].mathc: unknown key, did you mean "match"? (allowed: id, description, version, match, policies, deadline, action)']],
  ['unknown key in a match', edit((c) => (c.routes[0].match.method = ['GET'])), ['routes[0].match.method: unknown key, did you mean "methods"? (allowed: path, methods, host, headers, query, sourceIp, country)']],
  ['unknown key in an action', edit((c) => (c.routes[0].action.upsteam = 'x')), ['routes[0].action.upsteam: unknown key, did you mean "upstream"? (allowed: type, upstream, path, stripPrefix, websocket, split, pinBy, mirror, hedge)']],
  ['unknown key in a policy', edit((c) => (c.routes[0].policies = [{ type: 'headers', reqest: {} }])), ['routes[0].policies[0].reqest: unknown key, did you mean "request"? (allowed: type, request, response)']],
  [
    'unknown action type',
    edit((c) => (c.routes[0].action = { type: 'forward' })),
    ['routes[0].action.type: expected one of "proxy" | "respond" | "redirect" | "aggregate" | "custom:<name>", received "forward"'],
  ],
  [
    'unknown upstream, with the known list',
    edit((c) => (c.routes[0].action.upstream = 'users')),
    ['routes[0].action.upstream: unknown upstream "users" (known: orders, billing)'],
  ],
  [
    'duplicate route id',
    edit((c) => c.routes.push({ id: 'orders', match: { path: '/x' }, action: { type: 'respond' } })),
    ['routes[1].id: duplicate route id "orders" (also routes[0])'],
  ],
  [
    'bad template',
    edit((c) => (c.routes[0].action.path = '/v2/orders/{params.id')),
    ['routes[0].action.path: invalid template "/v2/orders/{params.id": unclosed "{"'],
  ],
  [
    'unknown template variable',
    edit((c) => (c.routes[0].action.path = '/v2/{param.id}')),
    ['routes[0].action.path: unknown template variable "param" in "{param.id}" (known: params, query, headers, claims, consumer, request)'],
  ],
  [
    'unknown path param',
    edit((c) => (c.routes[0].action.path = '/v2/orders/{params.orderId}')),
    ['routes[0].action.path: unknown path parameter "orderId" (the route declares: id)'],
  ],
  [
    'unknown variable in a respond body',
    edit((c) => (c.routes[0].action = { type: 'respond', body: { id: '{params.id}', who: '{user.name}' } })),
    ['routes[0].action.body: unknown template variable "user" in "{user.name}" (known: params, query, headers, claims, consumer, request)'],
  ],
  [
    'bad template in a redirect',
    edit((c) => (c.routes[0].action = { type: 'redirect', location: '/new/{params.id}}' })),
    ['routes[0].action.location: invalid template "/new/{params.id}}": unmatched "}" (write "}}" for a literal brace)'],
  ],
  [
    'unknown path param in a header policy',
    edit((c) => (c.routes[0].policies = [{ type: 'headers', request: { set: { 'X-Id': '{params.nope}' } } }])),
    ['routes[0].policies[0].request.set.X-Id: unknown path parameter "nope" (the route declares: id)'],
  ],
  [
    'bad regex',
    edit((c) => (c.routes[0].match.headers = { 'x-client': { regex: '^(mobile' } })),
    ['routes[0].match.headers.x-client.regex: invalid regular expression: Invalid regular expression: /^(mobile/: Unterminated group'],
  ],
  ['bad header name in a match', edit((c) => (c.routes[0].match.headers = { 'x y': '1' })), ['routes[0].match.headers["x y"]: must be a valid header name']],
  [
    'bad header name in versioning.headers',
    edit((c) => (c.versioning = { headers: ['api version'], versions: { v1: {} } })),
    ['versioning.headers[0]: must be a valid header name'],
  ],
  [
    'bad header name in a respond action',
    edit((c) => (c.routes[0].action = { type: 'respond', headers: { 'x:y': 'z' } })),
    ['routes[0].action.headers["x:y"]: must be a valid header name'],
  ],
  [
    'bad header name in a fallback',
    edit((c) => (c.upstreams.orders.fallback = { status: 503, headers: { 'retry after': '5' } })),
    ['upstreams.orders.fallback.headers["retry after"]: must be a valid header name'],
  ],
  [
    'absent header that must also equal a value',
    edit((c) => (c.routes[0].match.headers = { 'x-client': { present: false, equals: 'z' } })),
    ['routes[0].match.headers.x-client: "present": false cannot be combined with "equals" or "regex"'],
  ],
  [
    'absent header that must also match a regex',
    edit((c) => (c.routes[0].match.headers = { 'x-client': { present: false, regex: '^z' } })),
    ['routes[0].match.headers.x-client: "present": false cannot be combined with "equals" or "regex"'],
  ],
  ['empty header condition', edit((c) => (c.routes[0].match.headers = { 'x-client': {} })), ['routes[0].match.headers.x-client: set "equals", "regex" or "present"']],
  ['empty query condition', edit((c) => (c.routes[0].match.query = { page: {} })), ['routes[0].match.query.page: set "equals" or "present"']],
  [
    'absent query parameter that must also equal a value',
    edit((c) => (c.routes[0].match.query = { page: { present: false, equals: '1' } })),
    ['routes[0].match.query.page: "present": false cannot be combined with "equals"'],
  ],
  [
    'wildcard not at the end',
    edit((c) => (c.routes[0].match.path = '/files/*/meta')),
    ['routes[0].match.path: a wildcard "*" may only end the pattern ("/files/*")'],
  ],
  ['path not starting with /', edit((c) => (c.routes[0].match.path = 'orders/:id')), ['routes[0].match.path: must start with "/"']],
  ['bad source CIDR', edit((c) => (c.routes[0].match.sourceIp = ['10.0.0.0/33'])), ['routes[0].match.sourceIp[0]: "10.0.0.0/33": the prefix length must be 0-32 for IPv4']],
  ['source CIDR with host bits', edit((c) => (c.routes[0].match.sourceIp = ['2001:db8::1/32'])), ['routes[0].match.sourceIp[0]: "2001:db8::1/32" has bits set after the /32 prefix (did you mean "2001:db8::/32"?)']],
  ['source that is no address', edit((c) => (c.routes[0].match.sourceIp = ['10.0.0.0', 'intranet'])), ['routes[0].match.sourceIp[1]: "intranet" is not an IP address or CIDR range ("203.0.113.0/24", "2001:db8::/32")']],
  ['empty source list', edit((c) => (c.routes[0].match.sourceIp = [])), ['routes[0].match.sourceIp: list at least one address or range']],
  ['lower-case country', edit((c) => (c.routes[0].match.country = ['de'])), ['routes[0].match.country[0]: "de" is not a country code: use ISO 3166-1 alpha-2 in capitals ("DE"), "XX" (unknown) or "T1" (Tor)']],
  ['empty country list', edit((c) => (c.routes[0].match.country = [])), ['routes[0].match.country: list at least one country code']],
  ['bad host', edit((c) => (c.routes[0].match.host = 'api.example.com/x')), ['routes[0].match.host: "api.example.com/x" is not a host name or "*.example.com"']],
  ['unknown method', edit((c) => (c.routes[0].match.methods = ['FETCH'])), ['routes[0].match.methods[0]: expected "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS", received "FETCH"']],
  [
    'unknown version on a route',
    edit((c) => {
      c.versioning = { versions: { v1: {}, v2: {} } }
      c.routes[0].version = 'v3'
    }),
    ['routes[0].version: unknown version "v3" (known: v1, v2)'],
  ],
  [
    'version without versioning',
    edit((c) => (c.routes[0].version = 'v1')),
    ['routes[0].version: unknown version "v1" (known: none)'],
  ],
  [
    'unknown default version',
    edit((c) => (c.versioning = { default: 'v9', versions: { v1: {} } })),
    ['versioning.default: unknown version "v9" (known: v1)'],
  ],
  [
    'deadline not covering the upstream timeout',
    withDeadline({ orders: 10_000 }),
    ['routes[0].deadline: 5000 ms does not cover its upstream "orders" (timeouts.headers 10000 ms); raise the deadline or lower the upstream timeout'],
  ],
  [
    'deadline not covering a split (canary) upstream',
    withDeadline({ billing: 10_000, orders: 1_000 }, (c) => (c.routes[0].action.split = [{ upstream: 'billing', weight: 5 }])),
    ['routes[0].deadline: 5000 ms does not cover its split upstream "billing" (timeouts.headers 10000 ms); raise the deadline or lower the upstream timeout'],
  ],
  [
    'deadline not covering the fallback upstream after the main one',
    withDeadline({ orders: 3_000, billing: 3_000 }, (c) => (c.upstreams.orders.fallback = { upstream: 'billing' })),
    ['routes[0].deadline: 5000 ms does not cover its upstream "orders" and its fallback "billing" (3000 + 3000 ms); raise the deadline or lower the upstream timeouts'],
  ],
  [
    'a mirror is outside the deadline (fire-and-forget)',
    withDeadline({ orders: 1_000, billing: 10_000 }, (c) => (c.routes[0].action.mirror = { upstream: 'billing' })),
    [],
  ],
  [
    'consumer with an unknown plan',
    edit((c) => {
      c.plans = { gold: {} }
      c.consumers = { acme: { plan: 'platinum' } }
    }),
    ['consumers.acme.plan: unknown plan "platinum" (known: gold)'],
  ],
  ['upstream with neither url nor service', edit((c) => (c.upstreams.orders = {})), ['upstreams.orders: set exactly one of "url", "service" or "targets"']],
  [
    'upstream with both url and service',
    edit((c) => (c.upstreams.orders = { url: 'http://a.test', service: 'ORDERS' })),
    ['upstreams.orders: set exactly one of "url", "service" or "targets"'],
  ],
  ['bad timeout', edit((c) => (c.upstreams.orders.timeouts = { headers: 1.5 })), ['upstreams.orders.timeouts.headers: must be whole milliseconds']],
  ['bad name', edit((c) => (c.routes[0].id = 'has space')), ['routes[0].id: must be letters, digits, "_", "-" or "." (at most 128)']],
  ['bad redirect status', edit((c) => (c.routes[0].action = { type: 'redirect', status: 300, location: '/' })), ['routes[0].action.status: expected 301 | 302 | 303 | 307 | 308, received 300']],
  [
    'bad admin prefix',
    edit((c) => (c.gateway = { admin: { prefix: 'admin' } })),
    ['gateway.admin.prefix: must be a path like "/_edgeway"'],
  ],
  [
    'every problem at once',
    edit((c) => {
      c.routes[0].action.upstream = 'users'
      c.routes.push({ id: 'orders', match: { path: '/a/*/b' }, action: { type: 'redirect', location: '{nope}' } })
    }),
    [
      'routes[0].action.upstream: unknown upstream "users" (known: orders, billing)',
      'routes[1].id: duplicate route id "orders" (also routes[0])',
      'routes[1].match.path: a wildcard "*" may only end the pattern ("/files/*")',
      'routes[1].action.location: unknown template variable "nope" in "{nope}" (known: params, query, headers, claims, consumer, request)',
    ],
  ],
]

describe('bad configs', () => {
  it('the base config is valid', () => {
    expect(problemsOf(base())).toEqual([])
  })

  it.each(CASES)('%s', (_, config, expected) => {
    expect(problemsOf(config)).toEqual(expected)
  })

  it('an unknown policy type lists the known ones', () => {
    // Other features add policy types: the list grows, its start stays.
    expect(problemsOf(edit((c) => (c.routes[0].policies = [{ type: 'jwtt' }])))).toEqual([
      expect.stringMatching(/^routes\[0\]\.policies\[0\]\.type: expected one of "request-id" \| "headers"( \| "[a-z-]+")* \| "custom:<name>", received "jwtt"$/),
    ])
  })

  it('loadConfig throws a ConfigError listing every problem', () => {
    const config = edit((c) => (c.routes[0].action.upstream = 'users'))
    expect(() => loadConfig(config)).toThrow(ConfigError)
    expect(() => loadConfig(config)).toThrow('invalid gateway config:\n  - routes[0].action.upstream: unknown upstream "users" (known: orders, billing)')
  })
})

describe('subrequest budget', () => {
  // Every policy declares its worst case: jwt with discovery 2 (discovery document + JWKS);
  // rate-limit 2 x keys - 1 (one RPC per key, refunds on a denial): keys ip, consumer (quota) and
  // the plan's consumer key with no fallback = 3 keys, 5; cache with scope "consumer" 15 (an unsafe
  // request's invalidation: per target URI, itself, Location and Content-Location, a KV read, a
  // delete in each of two partitions and two KV writes, the path's and its bucket's; 12 with one partition).
  const jwt = { type: 'jwt', issuers: [{ issuer: 'https://login.example.com/', discovery: true, audience: 'api' }] }
  const rateLimit = {
    type: 'rate-limit',
    by: ['ip'],
    limits: [{ name: 'burst', limit: 10, window: 1 }],
    quotas: [{ name: 'daily', limit: 1000, period: 'day', by: ['consumer'], fallback: ['ip'] }],
    plans: true,
  }
  const cache = { type: 'cache', scope: 'consumer', defaultTtl: 30 }
  /** An aggregate of `calls` calls to an upstream retrying twice: 3 subrequests a call. */
  const overBudget = (calls: number, policies: unknown[] = [jwt, rateLimit, cache]): Config => ({
    upstreams: { orders: { url: 'http://127.0.0.1:9', retries: { attempts: 2 } } },
    plans: { free: { quotas: [{ name: 'monthly', limit: 100, period: 'month' }] } },
    routes: [
      {
        id: 'dashboard',
        match: { path: '/dashboard' },
        policies,
        action: { type: 'aggregate', calls: Array.from({ length: calls }, (_, i) => ({ name: `c${i}`, upstream: 'orders', path: `/part/${i}` })) },
      },
    ],
  })

  it('adds up auth, rate limits, cache and every try of every call, against the plan limit (free: 50)', () => {
    expect(problemsOf(overBudget(9))).toEqual([])
    expect(problemsOf(overBudget(10))).toEqual([
      'routes[0]: needs up to 52 subrequests per request (action 30, policies 22), over the limit of 50 (gateway.plan "free")',
    ])
    // Without consumer partitions an invalidation deletes one key per target: 3 fewer.
    expect(problemsOf(overBudget(10, [jwt, rateLimit, { ...cache, scope: 'public' }]))).toEqual([])
    expect(problemsOf({ ...overBudget(10), gateway: { plan: 'paid' } })).toEqual([])
    expect(problemsOf({ ...overBudget(10), gateway: { plan: 'paid', maxSubrequests: 20 } })).toEqual([
      'routes[0]: needs up to 52 subrequests per request (action 30, policies 22), over the limit of 20 (gateway.plan "paid")',
    ])
  })

  it('counts the metrics aggregator flush (one Durable Object call in waitUntil)', () => {
    // 9 calls x 3 + policies 22 = 49; the flush makes 50: in under 50, over a maxSubrequests of 49.
    const metrics = { ...overBudget(9), gateway: { metrics: { aggregator: {} } } }
    expect(problemsOf(metrics)).toEqual([])
    expect(problemsOf({ ...metrics, gateway: { ...metrics.gateway, maxSubrequests: 50 } })).toEqual([])
    expect(problemsOf({ ...metrics, gateway: { ...metrics.gateway, maxSubrequests: 49 } })).toEqual([
      'routes[0]: needs up to 50 subrequests per request (action 27, policies 22, metrics 1), over the limit of 49 (gateway.plan "free")',
    ])
    expect(problemsOf({ ...overBudget(9), gateway: { maxSubrequests: 49 } })).toEqual([])
  })

  it('counts global policies against every route', () => {
    const config = { ...overBudget(10, [cache]), policies: [{ type: 'request-id' }, jwt, rateLimit] }
    expect(problemsOf(config)).toEqual([
      'routes[0]: needs up to 52 subrequests per request (action 30, policies 22), over the limit of 50 (gateway.plan "free")',
    ])
    // A route with no policy of its own still pays for the global ones.
    const proxy = { ...config, routes: [{ id: 'orders', match: { path: '/orders' }, action: { type: 'proxy', upstream: 'orders' } }] }
    expect(problemsOf({ ...proxy, gateway: { maxSubrequests: 9 } })).toEqual([
      'routes[0]: needs up to 10 subrequests per request (action 3, policies 7), over the limit of 9 (gateway.plan "free")',
    ])
  })
})

describe('problems found when the config meets the Worker environment', () => {
  const build = (config: GatewayConfigInput, env: Env) => {
    try {
      createGateway(loadConfig(config), env)
    } catch (err) {
      if (err instanceof ConfigError) return err.problems
      throw err
    }
    return []
  }

  it('a ${VAR} that is not set', () => {
    const config = edit((c) => (c.upstreams.orders.url = '${ORDERS_ORIGIN}/api'))
    expect(build(config as GatewayConfigInput, {})).toEqual(['upstreams.orders.url: Worker variable "ORDERS_ORIGIN" is not set'])
    expect(build(config as GatewayConfigInput, { ORDERS_ORIGIN: 'http://127.0.0.1:9' })).toEqual([])
  })

  it('a ${VAR} that is not a usable URL', () => {
    const config = edit((c) => (c.upstreams.orders.url = '${ORDERS_ORIGIN}'))
    expect(build(config as GatewayConfigInput, { ORDERS_ORIGIN: 'not a url' })).toEqual(['upstreams.orders.url: "not a url" is not an absolute URL'])
    expect(build(config as GatewayConfigInput, { ORDERS_ORIGIN: 'ftp://x.test' })).toEqual(['upstreams.orders.url: must be an http or https URL'])
    expect(build(config as GatewayConfigInput, { ORDERS_ORIGIN: 'http://u:p@x.test' })).toEqual([
      'upstreams.orders.url: must not hold credentials (use a policy that reads a secret)',
    ])
    expect(build(config as GatewayConfigInput, { ORDERS_ORIGIN: 'http://x.test/?a=1' })).toEqual(['upstreams.orders.url: must not have a query or fragment'])
  })

  it('a service binding that is missing', () => {
    const config = edit((c) => (c.upstreams.billing = { service: 'BILLING' }))
    expect(build(config as GatewayConfigInput, {})).toEqual(['upstreams.billing.service: no service binding "BILLING" in the Worker\'s environment'])
    expect(build(config as GatewayConfigInput, { BILLING: 'a string, not a binding' })).toEqual([
      'upstreams.billing.service: no service binding "BILLING" in the Worker\'s environment',
    ])
  })
})

describe('structural problems say that more checks follow', () => {
  it('a structural failure carries the pending note; a cross-field one does not', () => {
    const structural = parseConfig(edit((c) => (c.rotues = [])))
    expect(structural).toMatchObject({ ok: false, pending: '(cross-field checks — references, budgets, deadlines — run once these are fixed)' })
    const crossField = parseConfig(edit((c) => (c.routes[0].action.upstream = 'users')))
    expect(crossField.ok).toBe(false)
    expect(crossField).not.toHaveProperty('pending')
  })
})
