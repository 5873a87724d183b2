/**
 * @module
 * What the gateway serves for developers, before any route: the OpenAPI document at
 * `gateway.openapi.path`, and the portal at `gateway.portal.path`, whose pages are Workers Static
 * Assets (`public/portal/`, the `ASSETS` binding, outside the script's size budget). With
 * `run_worker_first`, every request reaches the gateway first: only the portal's own files are
 * handed to `env.ASSETS`, so nothing else under `public/` is served by accident.
 *
 * The document is built on its first request and kept for the life of the isolate's gateway (a
 * reloaded config builds a new gateway, hence a new document).
 */
import type { Context, Hono } from 'hono'
import type { OpenApiSource } from './schema'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { GatewayError } from '../core/errors'
import { normalizePath, rawPathOf } from '../routing/normalize'
import { buildOpenApi } from './document'

/**
 * What the log line and the metrics name these requests by, in place of a route id: they matched
 * no route, but they are not "no route matched" (`(none)`) either.
 */
export const OPENAPI_ROUTE = '(openapi)'
export const PORTAL_ROUTE = '(portal)'

/** The folder under the assets directory that holds the portal. */
const ASSET_DIR = '/portal'

/** The portal loads its own files and calls its own origin, nothing else. */
const PAGE_HEADERS: [string, string][] = [
  ['Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
]

export function developerPages(app: Hono<AppEnv>, config: OpenApiSource, env: Env, version: string): void {
  const { openapi, portal } = config.gateway
  if (openapi) {
    let text: string | undefined
    const etag = `"${version}"`
    app.get(openapi.path, (c) => {
      c.get('log').routeId = OPENAPI_ROUTE
      const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=60', ETag: etag, 'Access-Control-Allow-Origin': '*' }
      if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers)
      return c.body((text ??= JSON.stringify(buildOpenApi(config, env))), 200, headers)
    })
  }
  if (portal) {
    const base = portal.path
    // `signIn` is auth's section of the portal's settings (`auth/portal-schema.ts`): the page only
    // learns whether to offer signing in.
    const signIn = (portal as { signIn?: unknown }).signIn !== undefined
    const settings = JSON.stringify({ title: portal.title ?? `${config.gateway.name} developer portal`, openapi: openapi?.path, signIn })
    app.get(base, (c) => {
      c.get('log').routeId = PORTAL_ROUTE
      return c.redirect(`${base}/`, 301)
    })
    app.get(`${base}/portal.json`, (c) => {
      c.get('log').routeId = PORTAL_ROUTE
      return c.body(settings, 200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' })
    })
    app.get(`${base}/*`, (c, next) => servePortalAsset(c, next, base))
  }
}

async function servePortalAsset(c: Context<AppEnv>, next: () => Promise<void>, base: string): Promise<Response | void> {
  const path = normalizePath(rawPathOf(c.req.url))
  // A path that `..` took out of the portal is not the portal's to answer.
  if (!path.startsWith(`${base}/`)) return next()
  c.get('log').routeId = PORTAL_ROUTE
  const assets = c.env.ASSETS as Fetcher | undefined
  if (!assets) throw new GatewayError('ERR_UPSTREAM_UNAVAILABLE', { detail: 'The portal\'s pages are not deployed with this Worker (no ASSETS binding).' })
  const url = new URL(c.req.url)
  url.pathname = ASSET_DIR + path.slice(base.length)
  url.search = ''
  const res = await assets.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers }))
  if (res.status === 404) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No such portal page.' })
  const out = new Response(res.body, res)
  const location = out.headers.get('location')
  if (location?.startsWith(`${ASSET_DIR}/`)) out.headers.set('location', base + location.slice(ASSET_DIR.length))
  for (const [name, value] of PAGE_HEADERS) out.headers.set(name, value)
  return out
}
