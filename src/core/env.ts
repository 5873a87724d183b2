/**
 * @module
 * The Worker's bindings, typed in one place. Only what the gateway itself reads is listed; policies
 * read the secrets they are configured with by name (`env[secretName]`).
 */
export type Env = {
  /** Admin API bearer token (a Worker secret). The admin API is off while it is unset. */
  ADMIN_TOKEN?: string
  /** Optional KV namespace holding a hot-reloadable gateway config. */
  CONFIG_KV?: KVNamespace
  /** Any other binding: service bindings for upstreams, secrets named by policies, vars for `${VAR}`. */
  [binding: string]: unknown
}

declare global {
  /**
   * Whether the config schema keeps its descriptions. They are only read by the JSON Schema
   * generator (`npm run schema`, and the staleness test), so the deployed bundle sets it to false
   * at build time (`define` in wrangler.toml) and the minifier drops every description string.
   */
  const SCHEMA_DOCS: boolean
}
