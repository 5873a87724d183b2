/**
 * @module
 * Every policy type the config can name, in one explicit list. Adding a policy: write it in its
 * feature's folder (schema, `check`, factory: one `definePolicy`), then list it in `POLICIES`. The
 * config's schema takes the union of their schemas; validation runs their checks; the gateway's
 * pipeline builds their middleware. Nothing registers itself by being imported. A project's own
 * policies (`custom:<name>`, `core/custom.ts`) pass the union as any `custom:` object; validation
 * checks them against the project's registry (`./custom.ts`) and marks each with its definition.
 */
import * as v from 'valibot'
import { aclPolicy } from '../auth/acl-policy'
import { oauthPolicy } from '../auth/introspection-policy'
import { apiKeyPolicy } from '../auth/api-key-policy'
import { basicAuthPolicy } from '../auth/basic-auth'
import { httpSignaturePolicy } from '../auth/http-signature'
import { cachePolicy } from '../cache/policy'
import { corsPolicy } from '../traffic/cors'
import { headersPolicy } from '../traffic/headers'
import { ipRulesPolicy } from '../traffic/ip-rules'
import { jwtPolicy } from '../auth/jwt-policy'
import { mtlsPolicy } from '../auth/mtls'
import { originAuthPolicy } from '../traffic/origin-auth'
import { rateLimitPolicy } from '../rate-limit/policy'
import { requestIdPolicy } from '../traffic/request-id'
import { requestLimitsPolicy } from '../traffic/request-limits'
import { transformPolicy } from '../traffic/transform'
import type { PolicyView } from '../core/config-view'
import { CustomPolicyEntrySchema, customPolicyOf } from '../core/custom'
import type { Phase, PolicyDefinition } from '../core/policy'
import { validatePolicy } from '../traffic/request-validation'

/** Every policy type, in the order the config's union lists them. */
const POLICIES = [
  requestIdPolicy,
  headersPolicy,
  transformPolicy,
  corsPolicy,
  ipRulesPolicy,
  requestLimitsPolicy,
  originAuthPolicy,
  jwtPolicy,
  apiKeyPolicy,
  basicAuthPolicy,
  mtlsPolicy,
  httpSignaturePolicy,
  oauthPolicy,
  aclPolicy,
  cachePolicy,
  rateLimitPolicy,
  validatePolicy,
] as const

type SchemasOf<T extends readonly { schema: unknown }[]> = { -readonly [K in keyof T]: T[K]['schema'] }

export const POLICY_DEFINITIONS: Record<string, PolicyDefinition> = Object.fromEntries(POLICIES.map((policy) => [policy.type, policy]))

export const PolicySchema = v.variant('type', [...(POLICIES.map((policy) => policy.schema) as SchemasOf<typeof POLICIES>), CustomPolicyEntrySchema])

/** A policy type's definition (an own-property lookup: `constructor` is no policy). */
export function policyDefinition(type: string): PolicyDefinition | undefined {
  return Object.hasOwn(POLICY_DEFINITIONS, type) ? POLICY_DEFINITIONS[type] : undefined
}

/** A configured policy's definition: built-in by its type, custom by validation's mark (undefined for an unknown one). */
export function definitionOf(policy: PolicyView): PolicyDefinition | undefined {
  return customPolicyOf(policy) ?? policyDefinition(policy.type)
}

/** The phase a configured policy runs in (an option such as `beforeAuth` can move it). */
export function phaseOf(policy: PolicyView): Phase | undefined {
  const definition = definitionOf(policy)
  return definition && (definition.phaseOf?.(policy as never) ?? definition.phase)
}
