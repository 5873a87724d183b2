/**
 * @module
 * The addresses of the servers the test kit's global setup starts (`./global-setup.ts`), read
 * inside workerd with vitest's `inject`; a clear error when the setup is missing.
 */
import { inject } from 'vitest'
import './provided'

/** The URL the global setup provided under `name`. */
export function serverUrl(name: 'originUrl' | 'issuerUrl'): string {
  const url = inject(name)
  if (!url) throw new Error(`edgeway/testing: no ${name}; add 'edgeway/testing/global-setup' to test.globalSetup in vitest.config.ts`)
  return url
}
