import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  // The tests run inside workerd with this project's wrangler.toml (its Durable Objects and vars).
  plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml' } })],
  test: {
    // The test kit's Node side: starts a local origin and OIDC issuer that `edgeway/testing` talks to.
    globalSetup: ['edgeway/testing/global-setup'],
  },
})
