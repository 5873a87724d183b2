import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          ORIGIN_URL: inject('originUrl'),
          DEMO_ORIGIN: inject('originUrl'),
          DEMO_ORIGIN_B: inject('originUrl'),
          ADMIN_TOKEN: 'test-admin-token',
        },
      },
    })),
  ],
  resolve: {
    alias: { 'edgeway:config': fileURLToPath(new URL('./test/fixtures/gateway.json', import.meta.url)) },
  },
  test: {
    globalSetup: ['./test/node/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
  },
})
