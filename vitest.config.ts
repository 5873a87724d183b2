import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

export default defineConfig({
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
        },
        kvNamespaces: ['CACHE_KV'],
      },
    })),
  ],
  test: {
    globalSetup: ['./test/node/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
  },
})
