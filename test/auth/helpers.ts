/** Shared setup of the auth tests: a route behind a `jwt` policy trusting one issuer. */
import { policyGateway, type RouteGatewayExtras, type TestGateway } from '../support/gateway'

/** A gateway whose route `me` (`/me`) answers `body` behind a `jwt` policy trusting `issuer`. */
export function issuerGateway(issuer: Record<string, unknown>, extras: RouteGatewayExtras = {}, body: unknown = 'ok'): TestGateway {
  return policyGateway('jwt', { issuers: [issuer] }, { id: 'me', match: { path: '/me' }, action: { type: 'respond', body } as never }, extras)
}
