/**
 * @module
 * The test kit's Node side (`edgeway/testing/global-setup`): a vitest `globalSetup` that starts
 * the local servers before the workerd pool does, and hands their addresses to the tests
 * (`provide`; the kit's workerd side reads them with `inject`, `./provided.ts`):
 *   - an origin on 127.0.0.1 (`./node/origin-server.ts`): echoes what it gets, or answers what a
 *     test scripts;
 *   - an OpenID Connect issuer (`./node/issuer-server.ts`): discovery and JWKS per tenant, for
 *     the tokens tests sign inside workerd.
 * Nothing here may be imported by a Worker: it runs in Node (`npm run check:layers` checks).
 *
 * @example
 * // vitest.config.ts
 * test: { globalSetup: ['edgeway/testing/global-setup'] }
 */
import type { TestProject } from 'vitest/node'
import { startIssuer } from './node/issuer-server.ts'
import { startOrigin } from './node/origin-server.ts'
import './provided.ts'

export type TestServers = { originUrl: string; issuerUrl: string; close(): Promise<void> }

/** Starts the origin and the issuer on free ports of 127.0.0.1. */
export async function startTestServers(): Promise<TestServers> {
  const origin = await startOrigin()
  const issuer = await startIssuer()
  return {
    originUrl: origin.url,
    issuerUrl: issuer.url,
    async close() {
      await origin.close()
      await issuer.close()
    },
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers = await startTestServers()
  project.provide('originUrl', servers.originUrl)
  project.provide('issuerUrl', servers.issuerUrl)
  return servers.close
}
