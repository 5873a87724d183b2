/**
 * @module
 * Every policy type the config can name. Adding a policy: write its file, then list it in `POLICIES`.
 */
import * as v from 'valibot'
import { apiKeyPolicy } from '../auth/api-key-policy'
import { cachePolicy } from '../cache/policy'
import { corsPolicy } from '../traffic/cors'
import { headersPolicy } from '../traffic/headers'
import { ipRulesPolicy } from '../traffic/ip-rules'
import { jwtPolicy } from '../auth/jwt-policy'
import { originAuthPolicy } from '../traffic/origin-auth'
import { rateLimitPolicy } from '../rate-limit/policy'
import { requestIdPolicy } from '../traffic/request-id'
import { requestLimitsPolicy } from '../traffic/request-limits'
import { transformPolicy } from '../traffic/transform'
import type { PolicyDefinition } from '../core/policy'
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
  cachePolicy,
  rateLimitPolicy,
  validatePolicy,
] as const

type SchemasOf<T extends readonly { schema: unknown }[]> = { -readonly [K in keyof T]: T[K]['schema'] }

export const POLICY_DEFINITIONS: Record<string, PolicyDefinition> = Object.fromEntries(POLICIES.map((policy) => [policy.type, policy]))

export const PolicySchema = v.variant('type', POLICIES.map((policy) => policy.schema) as SchemasOf<typeof POLICIES>)
