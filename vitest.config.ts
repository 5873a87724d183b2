import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Keep the schema's descriptions: the JSON Schema staleness test generates the schema in workerd.
  define: { SCHEMA_DOCS: 'true' },
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: './wrangler.toml' },
      main: './test/worker.ts',
      miniflare: {
        bindings: {
          ORIGIN_URL: inject('originUrl'),
          DEMO_ORIGIN: inject('originUrl'),
          DEMO_ORIGIN_B: inject('originUrl'),
          ADMIN_TOKEN: 'test-admin-token',
          ISSUER_URL: inject('issuerUrl'),
          DEMO_ISSUER: `${inject('issuerUrl')}/t/demo`,
          FLEET_URL: inject('fleetUrl'),
          COLLECTOR_URL: inject('collectorUrl'),
          DEMO_ORIGIN_FLAKY: inject('originUrl'),
          // Property tests (test/support/fuzz.ts): `npm run fuzz` sets these; `npm test` leaves them empty.
          FUZZ_RUNS: process.env.FUZZ_RUNS ?? '',
          FUZZ_SEED: process.env.FUZZ_SEED ?? '',
        },
        // API keys, cache purge generations, and hot reload (CONFIG_KV: test-only, not in wrangler.toml).
        kvNamespaces: ['API_KEYS', 'CACHE_KV', 'CONFIG_KV'],
        // A service binding for `{ "service": "ECHO_SERVICE" }` upstreams: answers with what it received.
        serviceBindings: {
          ECHO_SERVICE: async (request: Request) =>
            Response.json({ via: 'service', method: request.method, url: request.url, body: await request.text(), requestId: request.headers.get('x-request-id') }),
        },
      },
    })),
  ],
  test: {
    globalSetup: ['./test/node/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // One workerd per pool worker for all its files, not one per file: starting workerd and importing
    // the gateway's modules again for each of ~90 files was three quarters of the suite's time.
    // Files therefore share module state and storage (Durable Objects, KV, the Cache API): a test
    // never assumes an empty store, it uses names of its own (docs/testing.md).
    isolate: false,
    testTimeout: 20_000,
  },
})
