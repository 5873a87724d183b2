// The soak's gateway config: one route per feature the soak exercises, the pool's second target
// failing on bench/soak-servers.mjs's schedule. `ctx` is what bench/soak.mjs started: origin URLs,
// the JWKS and its issuer. Validated with src/config/parse.ts before the soak starts.

/**
 * The flaky target's schedule (phase, seconds), repeated from the start: ok, fail (500 from the
 * origin), hang (never answers), reset (destroys the socket), down (connection refused).
 */
export const SCHEDULE = [['ok', 20], ['fail', 8], ['ok', 10], ['hang', 8], ['ok', 10], ['reset', 8], ['ok', 10], ['down', 8]]

/** The phase `ms` after the start, with every phase `scale` times as long. */
export function phaseAt(ms, scale = 1) {
  const cycle = SCHEDULE.reduce((sum, [, s]) => sum + s * scale, 0)
  let t = (ms / 1000) % cycle
  for (const [name, s] of SCHEDULE) {
    if (t < s * scale) return name
    t -= s * scale
  }
  return 'ok'
}

/** Client IPs the load rotates through (raw workerd has no edge: the soak says who the client is). */
export const CLIENT_IPS = Array.from({ length: 8 }, (_, i) => `203.0.113.${i + 1}`)
/** Requests per client IP and second on the limited route: the load goes over it now and then. */
export const LIMIT_PER_SECOND = 3

export function soakConfig(ctx) {
  const jwt = { type: 'jwt', issuers: [{ issuer: ctx.jwks.issuer, jwksUrl: ctx.jwks.url, audience: ctx.jwks.audience }] }
  return {
    upstreams: {
      main: { url: ctx.origins.main, timeouts: { headers: 2000, total: 4000 } },
      pool: {
        targets: [{ url: ctx.origins.steady, id: 'steady' }, { url: ctx.origins.flaky, id: 'flaky' }],
        passive: { failures: 3, ejectMs: 5000 },
        circuitBreaker: { failures: 5, openMs: 5000 },
        retries: { attempts: 2, statuses: [500, 502, 503, 504], backoff: { base: 10, max: 100 } },
        timeouts: { headers: 1000, total: 3000 },
      },
    },
    routes: [
      { id: 'jwt', match: { path: '/jwt/*' }, policies: [jwt], action: { type: 'proxy', upstream: 'main' } },
      {
        id: 'limited',
        match: { path: '/limited/*' },
        policies: [{ type: 'rate-limit', by: ['ip'], onError: 'deny', limits: [{ name: 'soak', limit: LIMIT_PER_SECOND, window: 1 }] }],
        action: { type: 'proxy', upstream: 'main' },
      },
      { id: 'cached', match: { path: '/cacheable/*' }, policies: [{ type: 'cache', defaultTtl: 5 }], action: { type: 'proxy', upstream: 'main' } },
      {
        id: 'aggregate',
        match: { path: '/aggregate/:id' },
        deadline: 3000,
        action: {
          type: 'aggregate',
          calls: [
            { name: 'item', upstream: 'main', path: '/items/{params.id}', timeout: 1500 },
            { name: 'pooled', upstream: 'pool', path: '/pooled/{params.id}', timeout: 1500 },
          ],
        },
      },
      { id: 'pool', match: { path: '/pool/*' }, action: { type: 'proxy', upstream: 'pool' } },
    ],
  }
}

/** Routes whose upstream includes the flaky target: their upstream 5xx problems are expected. */
export const ROUTES_TOUCHING_FLAKY = new Set(['aggregate', 'pool'])

/** Problem codes that say "the upstream failed", as opposed to "the gateway failed". */
export const UPSTREAM_CODES = new Set(['ERR_UPSTREAM_UNREACHABLE', 'ERR_UPSTREAM_BAD_RESPONSE', 'ERR_UPSTREAM_UNAVAILABLE', 'ERR_CIRCUIT_OPEN', 'ERR_UPSTREAM_TIMEOUT'])
