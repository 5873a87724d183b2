/**
 * @module
 * Every policy type the config can name. Adding a policy: write its file, then list it here twice
 * (its definition, and its schema in the config's union).
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

export const POLICY_DEFINITIONS: Record<string, PolicyDefinition> = {
  [requestIdPolicy.type]: requestIdPolicy as PolicyDefinition,
  [headersPolicy.type]: headersPolicy as PolicyDefinition,
  [transformPolicy.type]: transformPolicy as PolicyDefinition,
  [corsPolicy.type]: corsPolicy as PolicyDefinition,
  [ipRulesPolicy.type]: ipRulesPolicy as PolicyDefinition,
  [requestLimitsPolicy.type]: requestLimitsPolicy as PolicyDefinition,
  [originAuthPolicy.type]: originAuthPolicy as PolicyDefinition,
  [jwtPolicy.type]: jwtPolicy as PolicyDefinition,
  [apiKeyPolicy.type]: apiKeyPolicy as PolicyDefinition,
  [cachePolicy.type]: cachePolicy as PolicyDefinition,
  [rateLimitPolicy.type]: rateLimitPolicy as PolicyDefinition,
  [validatePolicy.type]: validatePolicy as PolicyDefinition,
}

export const PolicySchema = v.variant('type', [
  requestIdPolicy.schema,
  headersPolicy.schema,
  transformPolicy.schema,
  corsPolicy.schema,
  ipRulesPolicy.schema,
  requestLimitsPolicy.schema,
  originAuthPolicy.schema,
  jwtPolicy.schema,
  apiKeyPolicy.schema,
  cachePolicy.schema,
  rateLimitPolicy.schema,
  validatePolicy.schema,
])
