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
    CONFIG_KV: KVNamespace
    /** Control API of the resilience test fleet (test/node/fleet.ts). */
    FLEET_URL: string
    /** The OTLP collector stand-in (test/node/collector.ts). */
    COLLECTOR_URL: string
    HEALTH_CHECKER: DurableObjectNamespace<import('../src/upstream/health-checker').HealthChecker>
    /** Purge generations of the cache policy. */
    CACHE_KV: KVNamespace
    /** Property tests: cases per property and seed (test/support/fuzz.ts); empty under `npm test`. */
    FUZZ_RUNS: string
    FUZZ_SEED: string
    SIGNATURE_NONCES: DurableObjectNamespace<import('../src/auth/signature-nonces').SignatureNonces>
    RATE_LIMITER: DurableObjectNamespace<import('../src/rate-limit/rate-limiter').RateLimiter>
  }
}

declare module '*?raw' {
  const text: string
  export default text
}
