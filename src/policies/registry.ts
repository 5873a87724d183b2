/**
 * @module
 * Every policy type the config can name. Adding a policy: write its file, then list it here twice
 * (its definition, and its schema in the config's union).
 */
import * as v from 'valibot'
import { cachePolicy } from './cache'
import { headersPolicy } from './headers'
import { requestIdPolicy } from './request-id'
import type { PolicyDefinition } from './types'

export const POLICY_DEFINITIONS: Record<string, PolicyDefinition> = {
  [requestIdPolicy.type]: requestIdPolicy as PolicyDefinition,
  [headersPolicy.type]: headersPolicy as PolicyDefinition,
  [cachePolicy.type]: cachePolicy as PolicyDefinition,
}

export const PolicySchema = v.variant('type', [requestIdPolicy.schema, headersPolicy.schema, cachePolicy.schema])
