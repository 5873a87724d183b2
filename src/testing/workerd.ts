/**
 * @module
 * The test kit (`edgeway/testing`): what Edgeway's own tests use, for a project's tests that run
 * in the vitest workers pool (`@cloudflare/vitest-pool-workers`). Its Node side,
 * `edgeway/testing/global-setup`, starts the local origin and OIDC issuer these helpers talk to.
 * docs/extending.md shows a whole test.
 *
 * - `testGateway(config, { policies, actions, runtime, env })`: a gateway from a config.
 * - `testOrigin()`: a real local origin of the test's own, echoing or scripted.
 * - `testIssuer()`: a real local OIDC issuer (discovery, JWKS) and the tokens it signs.
 * - `stoppedClock()` / `manualRuntime()`: a clock (and timers) the test moves.
 */
export { parsedTestGateway, testGateway, type TestGateway, type TestGatewayOptions } from './gateway'
export { ORIGIN_URL, testOrigin, type Echo, type OriginRequest, type ScriptedAnswer, type TestOrigin } from './origin'
export { bearer, ISSUER_URL, newKey, sign, Tenant, testIssuer, unsecured, type SignOptions, type TestIssuer, type TestKey } from './issuer'
export { manualRuntime, pollUntil, seededRandom, seededRuntime, sequence, settle, stoppedClock, waitFor, type ManualRuntime } from './runtime'
