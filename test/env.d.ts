/** Types of what the test pool gives tests: the worker's exports and its bindings. */
declare namespace Cloudflare {
  interface Exports {
    default: Fetcher
  }
  interface Env {
    /** The controllable test origin (test/node/origin.ts), started in globalSetup. */
    ORIGIN_URL: string
    ADMIN_TOKEN: string
    /** The controllable identity provider (test/node/issuer.ts). */
    ISSUER_URL: string
    API_KEYS: KVNamespace
  }
}

declare module '*?raw' {
  const text: string
  export default text
}
