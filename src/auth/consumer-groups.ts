/**
 * @module
 * The groups the config knows: those its consumers list. An `acl` policy may name only these, so
 * a misspelt group is a config error rather than a rule that never matches.
 */
import type { ConfigView } from '../core/config-view'

export function knownGroups(config: Pick<ConfigView, 'consumers'>): Set<string> {
  return new Set(Object.values(config.consumers).flatMap((consumer) => consumer.groups ?? []))
}
