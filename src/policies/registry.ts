/**
 * @module
 * Every policy type the config can name. Adding a policy: write its file, then list it in `POLICIES`.
 */
import * as v from 'valibot'
import { apiKeyPolicy } from './api-key'
import { cachePolicy } from './cache'
import { corsPolicy } from './cors'
import { headersPolicy } from './headers'
import { ipRulesPolicy } from './ip-rules'
import { jwtPolicy } from './jwt'
import { originAuthPolicy } from './origin-auth'
import { rateLimitPolicy } from './rate-limit'
import { requestIdPolicy } from './request-id'
import { requestLimitsPolicy } from './request-limits'
import { transformPolicy } from './transform'
import type { PolicyDefinition } from './types'
import { validatePolicy } from './validate'

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
