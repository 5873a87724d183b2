/** Config checks for tests: what `parseConfig` finds wrong with a config, as its problem lines. */
import { parseConfig } from '../../src/config/parse'

/** The problems `parseConfig` reports for `config` (none for a valid one), each naming its path. */
export function configProblems(config: unknown): string[] {
  const result = parseConfig(config)
  return result.ok ? [] : result.problems
}

export type Config = Record<string, any>

/** A small valid config to edit: two upstreams (`orders`, `billing`) and one proxy route. */
export function baseConfig(): Config {
  return {
    upstreams: { orders: { url: 'http://127.0.0.1:9' }, billing: { url: 'http://127.0.0.1:9' } },
    routes: [{ id: 'orders', match: { path: '/orders/:id' }, action: { type: 'proxy', upstream: 'orders' } }],
  }
}

/** `baseConfig()` with `change` applied. */
export function editedConfig(change: (config: Config) => void): Config {
  const config = baseConfig()
  change(config)
  return config
}
