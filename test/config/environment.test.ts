/** Deploy-time checks of a config against a wrangler environment (what `npm run check:config` adds to validation). */
import { describe, expect, it } from 'vitest'
import { checkEnvironment, type DeployEnvironment } from '../../src/config/environment'
import { loadConfig } from '../../src/config/parse'

const route = { id: 'api', match: { path: '/api/*' }, action: { type: 'proxy', upstream: 'api' } }
const config = (upstreams: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  loadConfig({ upstreams, routes: [route], ...extra } as never)

const staging = (over: Partial<DeployEnvironment> = {}): DeployEnvironment => ({
  label: '[env.staging]',
  vars: { API_ORIGIN: 'https://api.example.com' },
  secrets: new Set(['ORIGIN_SECRET_URL']),
  services: new Set(['BILLING']),
  durableObjects: new Set(['RATE_LIMITER', 'HEALTH_CHECKER', 'METRICS_AGGREGATOR']),
  mtlsCertificates: new Set(),
  ...over,
})

describe('literal upstream URLs (checked with or without an environment)', () => {
  it.each([
    ['not absolute', 'api.example.com', '"api.example.com" is not an absolute URL'],
    ['not http', 'ftp://api.example.com', 'must be an http or https URL'],
    ['with credentials', 'https://u:p@api.example.com', 'must not hold credentials (use a policy that reads a secret)'],
    ['with a query', 'https://api.example.com/?k=1', 'must not have a query or fragment'],
  ])('%s', (_, url, message) => {
    expect(checkEnvironment(config({ api: { url } }))).toEqual([`upstreams.api.url: ${message}`])
    expect(checkEnvironment(config({ api: { targets: [{ url: 'https://ok.example' }, { url }] } }))).toEqual([`upstreams.api.targets[1].url: ${message}`])
  })

  it('a good URL, and ${VAR} URLs, pass without an environment', () => {
    expect(checkEnvironment(config({ api: { url: 'https://api.example.com/base' } }))).toEqual([])
    expect(checkEnvironment(config({ api: { url: '${NOT_SET}' } }))).toEqual([])
  })
})

describe('against an environment', () => {
  it('resolves ${VAR} from its vars and checks the URL it makes', () => {
    expect(checkEnvironment(config({ api: { url: '${API_ORIGIN}/v1' } }), staging())).toEqual([])
    expect(checkEnvironment(config({ api: { url: '${API_ORIGIN}' } }), staging({ vars: { API_ORIGIN: 'api.example.com' } }))).toEqual([
      'upstreams.api.url: "api.example.com" is not an absolute URL ("api.example.com" in [env.staging])',
    ])
  })

  it('a ${VAR} that is neither a var nor a listed secret', () => {
    expect(checkEnvironment(config({ api: { url: '${API_ORIGN}' } }), staging())).toEqual([
      'upstreams.api.url: Worker variable "API_ORIGN" is not set in [env.staging] vars (nor listed as a secret in .dev.vars.example)',
    ])
  })

  it('a ${VAR} that is a listed secret passes (its value cannot be seen offline)', () => {
    expect(checkEnvironment(config({ api: { url: '${ORIGIN_SECRET_URL}' } }), staging())).toEqual([])
  })

  it('service, Durable Object and mTLS bindings must be declared', () => {
    const c = config(
      {
        api: { url: 'https://api.example.com', mtls: 'ORIGIN_CERT', healthCheck: { binding: 'HEALTH' } },
        billing: { service: 'BILLING' },
        ledger: { targets: [{ service: 'LEDGER' }] },
      },
      {
        gateway: { metrics: { aggregator: {} } },
        policies: [{ type: 'rate-limit', by: ['ip'], limits: [{ name: 'a', limit: 1, window: 1 }], binding: 'LIMITS' }],
      },
    )
    expect(checkEnvironment(c, staging({ durableObjects: new Set() }))).toEqual([
      'upstreams.api.mtls: no mTLS certificate binding "ORIGIN_CERT" declared in [env.staging] of wrangler.toml',
      'upstreams.api.healthCheck.binding: no Durable Object binding "HEALTH" declared in [env.staging] of wrangler.toml',
      'upstreams.ledger.targets[0].service: no service binding "LEDGER" declared in [env.staging] of wrangler.toml',
      'gateway.metrics.aggregator.binding: no Durable Object binding "METRICS_AGGREGATOR" declared in [env.staging] of wrangler.toml',
      'policies[0].binding: no Durable Object binding "LIMITS" declared in [env.staging] of wrangler.toml',
    ])
    expect(checkEnvironment(c)).toEqual([])
  })
})
