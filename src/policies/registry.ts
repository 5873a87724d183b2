/**
 * @module
 * Every policy type the config can name. Adding a policy: write its file, then list it here twice
 * (its definition, and its schema in the config's union).
 */
import * as v from 'valibot'
import { headersPolicy } from './headers'
import { rateLimitPolicy } from './rate-limit'
import { requestIdPolicy } from './request-id'
import type { PolicyDefinition } from './types'

export const POLICY_DEFINITIONS: Record<string, PolicyDefinition> = {
  [requestIdPolicy.type]: requestIdPolicy as PolicyDefinition,
  [headersPolicy.type]: headersPolicy as PolicyDefinition,
  [rateLimitPolicy.type]: rateLimitPolicy as PolicyDefinition,
}

export const PolicySchema = v.variant('type', [requestIdPolicy.schema, headersPolicy.schema, rateLimitPolicy.schema])
