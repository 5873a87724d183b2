/** Config checks for tests: what `parseConfig` finds wrong with a config, as its problem lines. */
import { parseConfig } from '../../src/config/parse'

/** The problems `parseConfig` reports for `config` (none for a valid one), each naming its path. */
export function configProblems(config: unknown): string[] {
  const result = parseConfig(config)
  return result.ok ? [] : result.problems
}
