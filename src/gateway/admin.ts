/**
 * @module
 * The admin API, under `gateway.admin.prefix` (default `/_edgeway`). It exists only while the
 * admin token secret is set, and every call needs `Authorization: Bearer <token>`, compared in
 * constant time. Wrong tokens are counted per client IP; too many block that IP for a while
 * (`rate-limit/admin-failures`). Each feature's endpoints are listed in `ENDPOINTS` below.
 */
import { Hono, type MiddlewareHandler } from 'hono'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { secretsEqual, type AdminContext, type AdminExtension } from '../core/admin'
import { apiKeyAdmin } from '../auth/api-key-admin'
import { consumerStoreAdmin } from '../auth/consumer-store-admin'
import { cacheAdmin } from '../cache/admin'
import { dashboard } from '../observability/dashboard'
import { adminTokenGuard } from '../rate-limit/admin-failures'
import { rateLimitAdmin } from '../rate-limit/admin'
import { redactBySchema } from '../config/redact'
import { GatewayConfigSchema } from '../config/schema'

/**
 * Every feature's admin endpoints, in one explicit list. Those with their own authentication are
 * mounted before the bearer check and must authenticate callers themselves (the dashboard accepts
 * a session cookie as well as the bearer token).
 */
const ENDPOINTS: AdminExtension[] = [apiKeyAdmin, consumerStoreAdmin, cacheAdmin, rateLimitAdmin]
const OWN_AUTH_ENDPOINTS: AdminExtension[] = [dashboard]

/**
 * The config as written, for display: the fields its schema marks secret are redacted (see
 * `config/redact.ts`), and free-form parts by their keys' names.
 */
export function redactConfig(value: unknown): unknown {
  return redactBySchema(GatewayConfigSchema, value)
}

/** A Hono path (`/api-keys/:id`, `/dashboard/*`) as a regex over the path below the prefix. */
function pathPattern(path: string): RegExp {
  const source = path
    .split(/(:[A-Za-z0-9_]+|\*)/)
    .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('')
  return new RegExp(`^${source}$`)
}

/**
 * 405 with `Allow` for a path the admin app answers with other methods (as public routes do), from
 * the endpoints registered so far; any other path goes on (to the 404).
 */
function wrongMethod(app: Hono<AppEnv>, prefix: string): MiddlewareHandler<AppEnv> {
  const endpoints = app.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method, pattern: pathPattern(r.path) }))
  return async function adminMethodNotAllowed(c, next) {
    const path = c.req.path.slice(prefix.length) || '/'
    const allow = [...new Set(endpoints.filter((e) => e.pattern.test(path)).map((e) => e.method))]
    if (allow.length === 0) return next()
    // A GET endpoint answers HEAD too (Hono routes HEAD to it).
    const methods = allow.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))
    throw new GatewayError('ERR_METHOD_NOT_ALLOWED', { detail: `${c.req.method} is not allowed here.`, headers: { Allow: methods.join(', ') } })
  }
}

/** Returns the admin app, or undefined when the token secret is not set (the API is off). */
export function adminApi(options: Omit<AdminContext, 'guardToken'>): Hono<AppEnv> | undefined {
  const token = options.env[options.config.gateway.admin.tokenSecret]
  if (typeof token !== 'string' || token.length === 0) return undefined
  // Only once the API is on: its guard logs, once, when there is no object to count failures in.
  const ctx: AdminContext = { ...options, guardToken: adminTokenGuard(options.env) }
  const app = new Hono<AppEnv>()
  for (const extend of OWN_AUTH_ENDPOINTS) extend(app, ctx)
  // Their wrong methods are answered before the bearer check: a browser's GET of the login URL has no token.
  app.all('*', wrongMethod(app, ctx.config.gateway.admin.prefix))
  const guard = ctx.guardToken
  app.use(async function adminAuth(c, next) {
    const header = c.req.header('authorization') ?? ''
    const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]
    const ok = given !== undefined && (await secretsEqual(given, token))
    // Only a presented token is a guess: a request with none is neither counted nor blocked.
    if (given !== undefined) await guard(c, ok)
    if (!ok) {
      throw new GatewayError('ERR_UNAUTHORIZED', {
        detail: 'The admin API needs a valid bearer token.',
        headers: { 'WWW-Authenticate': 'Bearer realm="edgeway-admin"' },
      })
    }
    c.get('log').admin = true
    await next()
  })
  app.get('/health', (c) =>
    c.json({ status: 'ok', configVersion: ctx.configVersion, routes: ctx.config.routes.length, upstreams: Object.keys(ctx.config.upstreams).length }),
  )
  app.get('/config', (c) => c.json({ version: ctx.configVersion, config: redactConfig(typeof ctx.source === 'function' ? ctx.source() : ctx.source) }))
  for (const extend of ENDPOINTS) extend(app, ctx)
  app.all('*', wrongMethod(app, ctx.config.gateway.admin.prefix))
  app.all('*', () => {
    throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No such admin endpoint.' })
  })
  return app
}
