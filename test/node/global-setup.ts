/**
 * Runs in Node before the workerd test pool starts: the test kit's origin and issuer
 * (src/testing/global-setup.ts) and this repository's fleet of origins, on 127.0.0.1, whose
 * addresses become bindings of the worker under test (see vitest.config.ts).
 */
import type { TestProject } from 'vitest/node'
import kitSetup from '../../src/testing/global-setup.ts'
import { startFleet } from './fleet.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    fleetUrl: string
  }
}

export default async function setup(project: TestProject) {
  const closeKit = await kitSetup(project)
  const fleet = await startFleet()
  project.provide('fleetUrl', fleet.url)
  return async () => {
    await closeKit()
    await fleet.close()
  }
}
