/**
 * @module
 * The groups the config knows: those its consumers list, and those `gateway.consumerStore.groups`
 * declares for stored consumers. An `acl` policy may name only these, and the admin API gives a
 * stored consumer only these, so a misspelt group is an error rather than a rule that never matches.
 */
import type { ConfigView } from '../core/config-view'
import { consumerStoreOf } from './consumer-store'

export function knownGroups(config: Pick<ConfigView, 'consumers' | 'gateway'>): Set<string> {
  const configured = Object.values(config.consumers).flatMap((consumer) => consumer.groups ?? [])
  return new Set([...configured, ...(consumerStoreOf(config)?.groups ?? [])])
}
