/**
 * The custom policies and actions this gateway registers; gateway.json names them
 * `custom:<name>`. `npx edgeway check` and `npx edgeway schema` read this file too.
 */
import { tenantCheck } from './policies/tenant-check'

export const policies = { 'tenant-check': tenantCheck }
export const actions = {}
