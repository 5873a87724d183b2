/**
 * Runs in Node before the workerd test pool starts: real origins on 127.0.0.1, whose addresses
 * become bindings of the worker under test (see vitest.config.ts).
 */
import type { TestProject } from 'vitest/node'
import { startFleet } from './fleet.ts'
import { startOrigin } from './origin.ts'
import { startIssuer } from './issuer.ts'
import { startCollector } from './collector.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    originUrl: string
    issuerUrl: string
    fleetUrl: string
    collectorUrl: string
  }
}

export default async function setup(project: TestProject) {
  const origin = await startOrigin()
  project.provide('originUrl', origin.url)
  const issuer = await startIssuer()
  project.provide('issuerUrl', issuer.url)
  const fleet = await startFleet()
  project.provide('fleetUrl', fleet.url)
  const collector = await startCollector()
  project.provide('collectorUrl', collector.url)
  return async () => {
    await origin.close()
    await issuer.close()
    await fleet.close()
    await collector.close()
  }
}
