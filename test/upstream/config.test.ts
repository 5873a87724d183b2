import { describe, expect, it } from 'vitest'
import { createPassiveHealth } from '../../src/upstream/health'
import type { Target } from '../../src/upstream/pool'
import { controlClock } from './fleet'
import { configProblems } from '../support/config'

const problems = configProblems
const proxy = (extra: Record<string, unknown> = {}, upstream = 'a') => [{ id: 'r', match: { path: '/*' }, action: { type: 'proxy', upstream, ...extra } }]

describe('resilience config validation', () => {
  it('keeps the url / service shorthand and checks pools', () => {
    expect(problems({ upstreams: { a: { url: 'http://x' } }, routes: proxy() })).toEqual([])
    expect(problems({ upstreams: { a: { url: 'http://x', targets: [{ url: 'http://y' }] } }, routes: proxy() })).toEqual([
      'upstreams.a: set exactly one of "url", "service" or "targets"',
    ])
    expect(problems({ upstreams: { a: { targets: [] } }, routes: proxy() })).toEqual(['upstreams.a.targets: must list at least one target'])
    expect(problems({ upstreams: { a: { targets: [{ weight: 1 }] } }, routes: proxy() })).toEqual(['upstreams.a.targets[0]: set exactly one of "url" or "service"'])
    expect(
      problems({ upstreams: { a: { targets: [{ url: 'http://x', weight: 0, id: 'n' }, { url: 'http://y', weight: 0, id: 'n' }] } }, routes: proxy() }),
    ).toEqual(['upstreams.a.targets: at least one target needs a weight above 0', 'upstreams.a.targets[1].id: duplicate target id "n" (also targets[0])'])
    expect(problems({ upstreams: { a: { targets: [{ url: 'http://x', weight: 1.5 }] } }, routes: proxy() })).toEqual([
      'upstreams.a.targets[0].weight: must be a whole number',
    ])
  })

  it('checks balancing, health, breaker and retry options with exact messages', () => {
    const up = (extra: Record<string, unknown>) => problems({ upstreams: { a: { url: 'http://x', ...extra } }, routes: proxy() })
    expect(up({ balance: 'hash' })).toEqual(['upstreams.a.hashOn: required when balance is "hash"'])
    expect(up({ hashOn: 'consumer' })).toEqual(['upstreams.a.hashOn: only used with balance "hash"'])
    expect(up({ balance: 'hash', hashOn: 'query:x' })).toEqual(['upstreams.a.hashOn: must be "consumer", "ip", "header:<name>" or "cookie:<name>"'])
    expect(up({ balance: 'fastest' })[0]).toMatch(/^upstreams\.a\.balance: /)
    expect(up({ healthCheck: { interval: 500 } })).toEqual(['upstreams.a.healthCheck.interval: must be at least 1000 ms'])
    expect(up({ healthCheck: { interval: 2000, timeout: 2000 } })).toEqual(['upstreams.a.healthCheck.timeout: must be shorter than interval (2000 ms)'])
    expect(up({ passive: { ejectMs: 5000, maxEjectMs: 1000 } })).toEqual(['upstreams.a.passive.maxEjectMs: must be at least ejectMs (5000 ms)'])
    expect(up({ retries: { attempts: 9 } })[0]).toMatch(/^upstreams\.a\.retries\.attempts: /)
    expect(up({ retries: { backoff: { base: 100, max: 10 } } })).toEqual(['upstreams.a.retries.backoff.max: must be at least base (100 ms)'])
    expect(up({ retries: { methods: ['FETCH'] } })[0]).toMatch(/^upstreams\.a\.retries\.methods\[0\]: /)
    expect(up({ circuitBreaker: { errorRatio: 2 } })[0]).toMatch(/^upstreams\.a\.circuitBreaker\.errorRatio: /)
    expect(up({ sticky: { cookie: 'bad name' } })).toEqual(['upstreams.a.sticky.cookie: must be a valid cookie name'])
    expect(up({ timeouts: { headers: 1000, total: 500 } })).toEqual(['upstreams.a.timeouts.total: must be at least timeouts.headers (1000 ms)'])
    expect(up({ retries: { attemps: 2 } })).toEqual(['upstreams.a.retries.attemps: unknown key, did you mean \"attempts\"? (allowed: attempts, methods, statuses, onTimeout, onConnectionError, backoff, budget, bodyLimit)'])
  })

  it('checks fallbacks', () => {
    const cfg = (upstreams: Record<string, unknown>) => problems({ upstreams, routes: proxy() })
    expect(cfg({ a: { url: 'http://x', fallback: { upstream: 'nope' } } })).toEqual(['upstreams.a.fallback.upstream: unknown upstream "nope" (known: a)'])
    expect(cfg({ a: { url: 'http://x', fallback: { upstream: 'a' } } })).toEqual(['upstreams.a.fallback.upstream: an upstream cannot fall back to itself'])
    expect(cfg({ a: { url: 'http://x', fallback: { upstream: 'b' } }, b: { url: 'http://y', fallback: { upstream: 'a' } } })).toEqual([
      'upstreams.a.fallback.upstream: "b" has a fallback upstream of its own; chains of fallbacks are not allowed',
      'upstreams.b.fallback.upstream: "a" has a fallback upstream of its own; chains of fallbacks are not allowed',
    ])
    expect(cfg({ a: { url: 'http://x', fallback: { upstream: 'a', status: 200 } } })).toEqual(['upstreams.a.fallback: set exactly one of "upstream" or "status"'])
  })

  it('checks hedge on the proxy action, naming the field', () => {
    const upstreams = { a: { url: 'http://x', timeouts: { headers: 1000 }, retries: { attempts: 1 } } }
    const hedged = (hedge: unknown, route: Record<string, unknown> = {}, gateway?: Record<string, unknown>) =>
      problems({ ...(gateway && { gateway }), upstreams, routes: [{ id: 'r', match: { path: '/*' }, ...route, action: { type: 'proxy', upstream: 'a', hedge } }] })
    expect(hedged({ after: 50, max: 3 })).toEqual([])
    expect(hedged({ after: 0 })).toEqual(['routes[0].action.hedge.after: must be above 0 ms'])
    expect(hedged({ after: 2.5 })).toEqual(['routes[0].action.hedge.after: must be whole milliseconds'])
    expect(hedged({ after: 50, max: 4 })).toEqual(['routes[0].action.hedge.max: must be at most 3'])
    expect(hedged({ max: 1 })).toEqual(['routes[0].action.hedge.after: required'])
    expect(hedged({ after: 50, mx: 1 })).toEqual(['routes[0].action.hedge.mx: unknown key, did you mean "max"? (allowed: after, max)'])
    // A route that only takes non-idempotent methods would never hedge: refused rather than ignored.
    expect(hedged({ after: 50 }, { match: { path: '/*', methods: ['POST', 'PATCH'] } })).toEqual([
      'routes[0].action.hedge: hedges go only with idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE), never with POST, PATCH, the only methods here; remove "hedge"',
    ])
    expect(hedged({ after: 50 }, { match: { path: '/*', methods: ['GET', 'POST'] } })).toEqual([])
    // A hedge sent when the first try has given up could never win.
    expect(hedged({ after: 1000 })).toEqual([
      'routes[0].action.hedge.after: the last hedge would go after 1000 ms, when the first try has given up (timeouts.headers of "a" 1000 ms); lower "after"',
    ])
    expect(hedged({ after: 50, max: 2 }, { deadline: 100 })).toContain(
      'routes[0].action.hedge.after: the last hedge would go after 2 x 50 = 100 ms, when the first try has given up (the route\'s deadline 100 ms); lower "after" or "max"',
    )
    // Each hedge is a subrequest: 2 tries and 1 hedge.
    expect(hedged({ after: 50 }, {}, { maxSubrequests: 2 })).toEqual([
      'routes[0]: needs up to 3 subrequests per request (action 3, policies 0), over the limit of 2 (gateway.plan "free")',
    ])
  })

  it('checks split and mirror on the proxy action', () => {
    const upstreams = { a: { url: 'http://x' }, b: { url: 'http://y' } }
    expect(problems({ upstreams, routes: proxy({ split: [{ upstream: 'b', weight: 60 }, { upstream: 'b', weight: 50 }] }) })).toEqual([
      'routes[0].action.split: weights add up to 110, over 100 (they are percents)',
    ])
    expect(problems({ upstreams, routes: proxy({ split: [{ upstream: 'c', weight: 5 }, { upstream: 'a', weight: 5 }] }) })).toEqual([
      'routes[0].action.split[0].upstream: unknown upstream "c" (known: a, b)',
      "routes[0].action.split[1].upstream: is the action's own upstream; a split names the other versions",
    ])
    expect(problems({ upstreams, routes: proxy({ pinBy: 'consumer' }) })).toEqual(['routes[0].action.pinBy: only used with "split"'])
    expect(problems({ upstreams, routes: proxy({ mirror: { upstream: 'a' } }) })).toEqual(["routes[0].action.mirror.upstream: must differ from the action's upstream"])
    expect(problems({ upstreams, routes: proxy({ mirror: { upstream: 'b', percent: 101 } }) })[0]).toMatch(/^routes\[0\]\.action\.mirror\.percent: /)
  })

  it('counts retries into the subrequest budget and the deadline', () => {
    const upstreams = {
      a: { targets: [{ url: 'http://x' }], retries: { attempts: 5 }, healthCheck: {}, fallback: { upstream: 'b' }, timeouts: { headers: 1000 } },
      b: { url: 'http://y', retries: { attempts: 2 } },
    }
    // (1 + 5) tries + 1 health read + (1 + 2) fallback tries + 1 mirror = 11; 4 policies x 10 would not fit in 50, so use maxSubrequests.
    expect(problems({ gateway: { maxSubrequests: 10 }, upstreams, routes: proxy({ mirror: { upstream: 'b' } }) })).toEqual([
      'routes[0]: needs up to 11 subrequests per request (action 11, policies 0), over the limit of 10 (gateway.plan "free")',
    ])
    const routes = [{ id: 'r', deadline: 3000, match: { path: '/*' }, action: { type: 'proxy', upstream: 'a' } }]
    expect(problems({ upstreams, routes })).toEqual([
      // a: 6 tries x 1000 + 5 backoffs x 1000; then its fallback b: 3 tries x 1000 (a's per-try timeout) + 2 x 1000.
      'routes[0].deadline: 3000 ms does not cover its upstream "a" and its fallback "b" (11000 + 5000 ms); raise the deadline or lower the upstream timeouts',
    ])
    const capped = { a: { ...upstreams.a, timeouts: { headers: 1000, total: 2500 } }, b: { ...upstreams.b, timeouts: { headers: 500, total: 500 } } }
    expect(problems({ upstreams: capped, routes })).toEqual([])
    expect(problems({ upstreams: { ...upstreams, a: { ...upstreams.a, fallback: undefined, timeouts: { headers: 1000, total: 2500 } } }, routes })).toEqual([])
  })
})

describe('passive health (unit)', () => {
  it('an ejected target returns early after a passed active probe', () => {
    const clock = controlClock()
    const t = { index: 0 } as Target
    const health = createPassiveHealth({ failures: 1, statuses: [500], ejectMs: 10_000, maxEjectMs: 10_000 }, [t], clock)
    health.record(t, 'failed')
    const ejectedAt = 1_700_000_000_000
    expect(health.available(t, ejectedAt - 1)).toBe(false) // a probe from before the ejection says nothing
    clock.move(2_000)
    expect(health.nextReturnIn()).toBe(8_000)
    expect(health.available(t, ejectedAt + 1_000)).toBe(true)
  })
})

describe('affinity keys (unit)', () => {
  it('reads the consumer, the client IP, a header or a cookie', async () => {
    const { keyReader } = await import('../../src/upstream/balancer')
    const headers = new Headers({ 'x-tenant': 'acme', cookie: 'a=1; session=s-42', 'cf-connecting-ip': '198.51.100.9' })
    const vars: Record<string, unknown> = { consumer: { id: 'alice', via: 'jwt', key: 'alice' } }
    const c = { get: (name: string) => vars[name], req: { header: (n: string) => headers.get(n) ?? undefined } } as never
    expect(keyReader('consumer')(headers, c)).toBe('alice')
    expect(keyReader('consumer')(headers, undefined)).toBeUndefined()
    expect(keyReader('ip')(headers, c)).toBe('198.51.100.9')
    expect(keyReader('header:X-Tenant')(headers, c)).toBe('acme')
    expect(keyReader('cookie:session')(headers, c)).toBe('s-42')
    expect(keyReader('cookie:missing')(headers, c)).toBeUndefined()
  })
})
