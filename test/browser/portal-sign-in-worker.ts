/**
 * The demo gateway with developer sign-in, for test/browser/portal-sign-in.test.mjs: the portal
 * signs developers in with the issuer at `PORTAL_ISSUER` (a tenant of test/node/issuer.ts) and
 * keeps their consumers and keys in `API_KEYS`, the KV namespace the demo's `api-key` route reads.
 */
import demo from '../../config/demo.json'
import { createWorker } from '../../src/lib'

export * from '../../src/gateway/durable-objects'
export default createWorker({
  ...demo,
  gateway: {
    ...demo.gateway,
    consumerStore: { kv: 'API_KEYS' },
    portal: { ...demo.gateway.portal, signIn: { issuer: '${PORTAL_ISSUER}', clientId: 'edgeway-portal', kv: 'API_KEYS' } },
  },
})
