/** The gateway config bundled with the Worker; wrangler.toml aliases it per environment. */
declare module 'edgeway:config' {
  const config: unknown
  export default config
}
