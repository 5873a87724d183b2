/**
 * @module
 * `cors`: Cross-Origin Resource Sharing, answered by the gateway (Fetch standard, "CORS protocol").
 *
 * - Origins: `"*"`, exact (`https://app.example.com`), wildcard subdomains (`https://*.example.com`:
 *   any subdomain, not the bare domain; same scheme and port), or a list of these.
 * - Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered here with
 *   204 and never reach the origin. A global `cors` policy answers them for every path; a route's
 *   own policy answers them for that route (routing lets a preflight match a route that has a
 *   `cors` policy by the method it asks about, even when `match.methods` lacks `OPTIONS`).
 * - A disallowed or missing `Origin` gets no CORS headers (the browser then refuses; not an error).
 * - `Vary: Origin` whenever the answer depends on the origin (everything but `*` without
 *   credentials), so a shared cache can't serve one origin's answer to another.
 * - With `credentials`, `*` is never sent: the allowed origin is reflected. `"*"` with credentials
 *   is a config error, since it would let every site read responses with the user's cookies.
 * - The gateway owns CORS on these routes: `Access-Control-*` headers from the origin are dropped.
 * - Never on the admin API or dashboard (`gateway.admin.prefix`, read from the config view): they
 *   keep their own same-origin rules, so no origin a global `cors` allows can read them with an
 *   operator's session cookie. Their preflights pass through unanswered (the admin API refuses
 *   them). The prefix is tested against the path Hono routes by (`c.req.path`), as the mount is.
 *
 * Not built on `hono/cors`: it sends `Access-Control-Allow-Credentials` and expose headers to
 * disallowed origins, treats every `OPTIONS` as a preflight, allows `*` with credentials, has no
 * wildcard subdomains, and sets its headers on `c.res` before `next()`, which our error path
 * (a fresh problem response) would drop. The rules are taken from it and from the standard.
 *
 * @example
 * { "type": "cors", "origins": ["https://app.example.com", "https://*.example.com"], "credentials": true,
 *   "allowHeaders": ["Authorization", "Content-Type"], "exposeHeaders": ["X-Request-Id"], "maxAge": 600 }
 */
import * as v from 'valibot'
import { HeaderName } from '../core/schema'
import { editResponseHeaders } from '../core/http'
import { HTTP_METHODS } from '../routing/methods'
import { definePolicy } from '../core/policy'

const ORIGIN = /^(https?):\/\/(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*)(:\d{1,5})?$/

const OriginPattern = v.pipe(
  v.string(),
  v.check(
    (origin) => origin === '*' || ORIGIN.test(origin),
    (issue) =>
      `"${issue.input}" is not an origin: write "scheme://host[:port]" in lower case with no path ("https://app.example.com", "https://*.example.com") or "*"`,
  ),
)

/** True when `Access-Control-Request-Method` marks an `OPTIONS` request as a CORS preflight. */
export function isPreflight(method: string, headers: Headers): boolean {
  return method === 'OPTIONS' && headers.has('origin') && headers.has('access-control-request-method')
}

type OriginTest = (origin: string) => boolean

function originTest(patterns: string[]): OriginTest {
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const wildcards = patterns
    .filter((p) => p.includes('*.'))
    .map((p) => {
      const m = ORIGIN.exec(p)!
      return { scheme: m[1]!, suffix: `.${m[3]!}`, port: m[5] ?? '' }
    })
  return (origin) => {
    const lower = origin.toLowerCase()
    if (exact.has(lower)) return true
    const m = ORIGIN.exec(lower)
    if (!m || m[2] !== undefined) return false
    const host = m[3]!
    return wildcards.some((w) => m[1] === w.scheme && (m[5] ?? '') === w.port && host.endsWith(w.suffix) && host.length > w.suffix.length)
  }
}

/** Whether a path is `prefix` or below it, as Hono's `app.route(prefix, ...)` mount sees it. */
function underPrefix(prefix: string): (path: string) => boolean {
  const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix
  return (path) => path === base || path.startsWith(`${base}/`)
}

function addVary(headers: Headers, names: string[]): void {
  const current = (headers.get('vary') ?? '').split(',').map((s) => s.trim().toLowerCase())
  if (current.includes('*')) return
  for (const name of names) if (!current.includes(name.toLowerCase())) headers.append('Vary', name)
}

const CORS_RESPONSE_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
]

export const corsPolicy = definePolicy({
  type: 'cors',
  phase: 'request',
  schema: v.strictObject({
    type: v.literal('cors'),
    origins: v.pipe(
      v.union([OriginPattern, v.pipe(v.array(OriginPattern), v.minLength(1))]),
      v.description(SCHEMA_DOCS ? '"*", an origin, "https://*.example.com", or a list of these.' : ''),
    ),
    methods: v.pipe(
      v.optional(v.pipe(v.array(v.picklist(HTTP_METHODS)), v.minLength(1)), ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
      v.description(SCHEMA_DOCS ? 'Methods a preflight allows.' : ''),
    ),
    allowHeaders: v.pipe(
      v.optional(v.array(v.union([v.literal('*'), HeaderName])), []),
      v.description(SCHEMA_DOCS ? 'Request headers a preflight allows; ["*"] allows whatever the preflight asks for (reflected).' : ''),
    ),
    exposeHeaders: v.pipe(v.optional(v.array(HeaderName), []), v.description(SCHEMA_DOCS ? 'Response headers scripts may read.' : '')),
    credentials: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Allow cookies and Authorization (never with "*").' : '')),
    maxAge: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(86_400))), v.description(SCHEMA_DOCS ? 'Seconds a browser may cache a preflight.' : '')),
  }),
  check(options, ctx) {
    const origins = [options.origins].flat()
    if (origins.includes('*') && origins.length > 1) ctx.error('.origins', '"*" already allows every origin; list it alone')
    if (origins.includes('*') && options.credentials) {
      ctx.error('.origins', '"*" can\'t be combined with "credentials": true (the Fetch standard refuses it); list the allowed origins')
    }
    if (options.allowHeaders.includes('*') && options.allowHeaders.length > 1) ctx.error('.allowHeaders', '"*" already allows every header; list it alone')
  },
  create(options, { config }) {
    const isAdminPath = underPrefix(config.gateway.admin.prefix)
    const origins = [options.origins].flat()
    const any = origins.includes('*')
    const allowed: OriginTest = any ? () => true : originTest(origins)
    // The answer depends on the request's origin unless it is the same `*` for everyone.
    const varies = !(any && !options.credentials)
    const methods = options.methods.join(', ')
    const reflectHeaders = options.allowHeaders.includes('*')
    const allowHeaders = reflectHeaders ? undefined : options.allowHeaders.join(', ')
    const expose = options.exposeHeaders.join(', ')
    const allowOriginFor = (origin: string) => (any && !options.credentials ? '*' : origin)

    return async function cors(c, next) {
      if (isAdminPath(c.req.path)) return next()
      const origin = c.req.header('origin')
      const ok = origin !== undefined && allowed(origin)
      if (isPreflight(c.req.method, c.req.raw.headers)) {
        const headers = new Headers()
        if (varies) addVary(headers, ['Origin'])
        if (ok) {
          headers.set('Access-Control-Allow-Origin', allowOriginFor(origin))
          if (options.credentials) headers.set('Access-Control-Allow-Credentials', 'true')
          headers.set('Access-Control-Allow-Methods', methods)
          const asked = c.req.header('access-control-request-headers')
          const headerList = reflectHeaders ? asked?.split(',').map((h) => h.trim()).filter(Boolean).join(', ') : allowHeaders
          if (headerList) headers.set('Access-Control-Allow-Headers', headerList)
          if (reflectHeaders) addVary(headers, ['Access-Control-Request-Headers'])
          if (options.maxAge !== undefined) headers.set('Access-Control-Max-Age', String(options.maxAge))
        }
        c.get('log').cors = ok ? 'preflight' : 'preflight-refused'
        return new Response(null, { status: 204, headers })
      }
      await next()
      editResponseHeaders(c, (headers) => {
        for (const name of CORS_RESPONSE_HEADERS) headers.delete(name)
        if (varies) addVary(headers, ['Origin'])
        if (!ok) return
        headers.set('Access-Control-Allow-Origin', allowOriginFor(origin))
        if (options.credentials) headers.set('Access-Control-Allow-Credentials', 'true')
        if (expose) headers.set('Access-Control-Expose-Headers', expose)
      })
    }
  },
})
