/**
 * @module
 * What the test kit's global setup (`./global-setup.ts`, Node) hands the tests (workerd): the
 * local servers' addresses, through vitest's `provide` / `inject`. Types only, read by both sides.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** The local echo and scriptable origin (`node/origin-server.ts`). */
    originUrl: string
    /** The local OIDC issuer (`node/issuer-server.ts`): tenants under `/t/<name>`. */
    issuerUrl: string
  }
}

export {}
