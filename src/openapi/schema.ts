/**
 * @module
 * Config for the generated OpenAPI document (`gateway.openapi`) and the developer portal
 * (`gateway.portal`), and their cross-field checks.
 *
 * @example
 * "gateway": { "openapi": { "path": "/openapi.json", "title": "Acme API", "version": "2.1.0",
 *   "servers": [{ "url": "https://api.acme.example" }] }, "portal": { "path": "/portal", "title": "Acme developers" } }
 */
import * as v from 'valibot'
import type { ConfigView, RouteView } from '../core/config-view'
import type { MatchConfig, VersioningConfig } from '../routing/schema'

/** A path the gateway itself answers: `/openapi.json`, `/portal`. */
const OwnPath = v.pipe(v.string(), v.regex(/^(\/[A-Za-z0-9_.~-]+)+$/, 'must be a path like "/openapi.json" (letters, digits, "_", "-", ".", "~")'))

export const OpenApiSettingsSchema = v.strictObject({
  path: v.pipe(v.optional(OwnPath, '/openapi.json'), v.description(SCHEMA_DOCS ? 'Where the gateway serves the document (GET).' : '')),
  title: v.optional(v.string()),
  version: v.pipe(v.optional(v.string(), '1.0.0'), v.description(SCHEMA_DOCS ? '`info.version`: the version of the API description.' : '')),
  description: v.optional(v.string()),
  servers: v.pipe(
    v.optional(v.array(v.strictObject({ url: v.pipe(v.string(), v.minLength(1)), description: v.optional(v.string()) }))),
    v.description(SCHEMA_DOCS ? '`servers`; default: the gateway itself (`/`).' : ''),
  ),
  exclude: v.pipe(v.optional(v.array(v.string()), []), v.description(SCHEMA_DOCS ? 'Route ids to leave out of the document (and the portal).' : '')),
})

export const PortalSettingsSchema = v.strictObject({
  path: v.pipe(v.optional(OwnPath, '/portal'), v.description(SCHEMA_DOCS ? 'Where the portal pages are served (Workers Static Assets under `public/portal/`).' : '')),
  title: v.optional(v.string()),
})

export type OpenApiSettings = v.InferOutput<typeof OpenApiSettingsSchema>
export type PortalSettings = v.InferOutput<typeof PortalSettingsSchema>

/**
 * What the document and the portal read of the config: the common views, plus the sections this
 * feature owns (`gateway.openapi`, `gateway.portal`) and routing's (`match`, `versioning`).
 */
export type OpenApiSource = ConfigView & {
  readonly gateway: { readonly openapi?: OpenApiSettings | undefined; readonly portal?: PortalSettings | undefined }
  readonly versioning?: VersioningConfig | undefined
  readonly routes: readonly (RouteView & { readonly description?: string | undefined; readonly match: MatchConfig })[]
}

/** Problems with `gateway.openapi` / `gateway.portal`, as `path: message`. */
export function checkDeveloperSettings(config: OpenApiSource, add: (path: string, message: string) => void): void {
  const { openapi, portal, admin } = config.gateway
  const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`)
  if (openapi) {
    if (under(openapi.path, admin.prefix)) add('gateway.openapi.path', `"${openapi.path}" is under the admin prefix "${admin.prefix}"`)
    const ids = new Set(config.routes.map((r) => r.id))
    openapi.exclude.forEach((id, i) => {
      if (!ids.has(id)) add(`gateway.openapi.exclude[${i}]`, `unknown route "${id}"`)
    })
  }
  if (portal) {
    if (!openapi) add('gateway.portal', 'the portal renders the OpenAPI document: set "gateway.openapi" too')
    if (under(portal.path, admin.prefix)) add('gateway.portal.path', `"${portal.path}" is under the admin prefix "${admin.prefix}"`)
    if (openapi && under(openapi.path, portal.path)) add('gateway.openapi.path', `"${openapi.path}" is inside the portal's path "${portal.path}"`)
  }
}
