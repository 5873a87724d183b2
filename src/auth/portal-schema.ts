/**
 * @module
 * Config for signing in to the developer portal (`gateway.portal.signIn`) and its cross-field
 * checks. The portal's other settings are `openapi/`'s; `config/schema.ts` puts this section into
 * them. Developers sign in with an OpenID Connect issuer and manage API keys of their own, each
 * tied to a consumer in the consumer store (`./portal-session`, `./portal-keys`).
 *
 * @example
 * "portal": { "path": "/portal", "signIn": { "issuer": "https://login.acme.example", "clientId": "portal",
 *   "kv": "API_KEYS", "plan": "free", "requireApproval": true } }
 */
import * as v from 'valibot'
import type { ConfigView } from '../core/config-view'
import { Name } from '../core/schema'
import { keyStores } from './api-key-admin'
import { consumerStoreOf } from './consumer-store'
import { keyUrlProblem } from './fetch-json'

const Whole = (min: number, max: number) => v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(min), v.maxValue(max))

export const PortalSignInSchema = v.strictObject({
  issuer: v.pipe(
    v.string(),
    v.minLength(1),
    v.description(SCHEMA_DOCS ? 'The OpenID Connect issuer developers sign in with (exact `iss`; its endpoints by discovery); `${VAR}` is replaced by a Worker variable.' : ''),
  ),
  clientId: v.pipe(v.string(), v.minLength(1), v.description(SCHEMA_DOCS ? 'The portal\'s client id at the issuer (the ID token\'s audience).' : '')),
  clientSecret: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'Name of the Worker secret holding the client secret, for a confidential client (PKCE is used either way).' : '')),
  scopes: v.pipe(v.optional(v.array(v.pipe(v.string(), v.regex(/^[!#-[\]-~]+$/, 'must be a scope token'))), ['openid', 'email']), v.description(SCHEMA_DOCS ? 'Scopes asked for; must include `openid`.' : '')),
  sessionSecret: v.pipe(
    v.optional(Name, 'PORTAL_SESSION_SECRET'),
    v.description(SCHEMA_DOCS ? 'Name of the Worker secret (at least 32 bytes) that signs the session cookie; changing it ends every session.' : ''),
  ),
  sessionHours: v.pipe(v.optional(Whole(1, 168), 8), v.description(SCHEMA_DOCS ? 'How long a sign-in lasts.' : '')),
  kv: v.pipe(Name, v.description(SCHEMA_DOCS ? 'The KV namespace keys are created in: one an `api-key` policy reads (`kv`).' : '')),
  plan: v.pipe(v.optional(Name), v.description(SCHEMA_DOCS ? 'The plan of a consumer created at a developer\'s first sign-in.' : '')),
  requireApproval: v.pipe(
    v.optional(v.boolean(), false),
    v.description(SCHEMA_DOCS ? 'New developers create keys only once an admin approves them (the consumer\'s `metadata.approved`).' : ''),
  ),
  maxKeys: v.pipe(v.optional(Whole(1, 100), 10), v.description(SCHEMA_DOCS ? 'Keys a developer may have that are not revoked or expired.' : '')),
  rollOverlapSeconds: v.pipe(v.optional(Whole(0, 2_592_000), 86_400), v.description(SCHEMA_DOCS ? 'How long a rolled key keeps working beside its replacement.' : '')),
})

export type PortalSignIn = v.InferOutput<typeof PortalSignInSchema>

/** `gateway.portal`, narrowed from the view to what this feature reads (the one place it does). */
export function portalSignInOf(config: Pick<ConfigView, 'gateway'>): { path: string; signIn: PortalSignIn } | undefined {
  const portal = config.gateway.portal as { path: string; signIn?: PortalSignIn } | undefined
  return portal?.signIn ? { path: portal.path, signIn: portal.signIn } : undefined
}

/** Problems with `gateway.portal.signIn`, as `path: message`. */
export function checkPortalSignIn(config: ConfigView, add: (path: string, message: string) => void): void {
  const portal = portalSignInOf(config)
  if (!portal) return
  const { signIn } = portal
  const at = 'gateway.portal.signIn'
  if (!consumerStoreOf(config)) add(at, 'developers become consumers in the consumer store: set "gateway.consumerStore"')
  const problem = signIn.issuer.includes('${') ? undefined : keyUrlProblem(signIn.issuer)
  if (problem) add(`${at}.issuer`, problem)
  if (!signIn.scopes.includes('openid')) add(`${at}.scopes`, 'must include "openid"')
  const stores = keyStores(config)
  if (!stores.includes(signIn.kv)) add(`${at}.kv`, `no api-key policy reads "${signIn.kv}" (known: ${stores.join(', ') || 'none'}): its keys would work nowhere`)
  if (signIn.plan !== undefined && !Object.hasOwn(config.plans, signIn.plan)) {
    add(`${at}.plan`, `unknown plan "${signIn.plan}" (known: ${Object.keys(config.plans).join(', ') || 'none'})`)
  }
}
