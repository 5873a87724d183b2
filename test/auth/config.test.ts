/** Invalid auth config: every problem named by its exact config path. */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse'
import { configProblems } from '../support/config'

function problems(policy: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] {
  return configProblems({ routes: [{ id: 'r', match: { path: '/' }, policies: [policy], action: { type: 'respond' } }], ...extra })
}

describe('auth config validation', () => {
  it('accepts a sound config', () => {
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://id.example', discovery: true, audience: 'api' }] })).toEqual([])
    expect(problems({ type: 'api-key', kv: 'API_KEYS' })).toEqual([])
  })

  it('rejects alg none, HS without a secret, a secret without HS, missing or doubled key sources', () => {
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', jwksUrl: 'https://a/jwks', algorithms: ['none'] }] })[0]).toMatch(
      /^routes\[0\]\.policies\[0\]\.issuers\[0\]\.algorithms\[0\]: expected "RS256"/,
    )
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', jwksUrl: 'https://a/jwks', algorithms: ['RS256', 'HS256'] }] })).toEqual([
      'routes[0].policies[0].issuers[0].algorithms: HS256 needs "secret" (the name of a Worker secret)',
    ])
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', jwksUrl: 'https://a/jwks', secret: 'S' }] })).toEqual([
      'routes[0].policies[0].issuers[0].secret: is set but "algorithms" allows no HS* algorithm',
    ])
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a' }] })).toEqual([
      'routes[0].policies[0].issuers[0]: needs a key source: "discovery", "jwksUrl", "keys" or "secret"',
    ])
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', discovery: true, jwksUrl: 'https://a/jwks' }] })).toEqual([
      'routes[0].policies[0].issuers[0]: set only one of "discovery", "jwksUrl" or "keys" (found: discovery, jwksUrl)',
    ])
  })

  it('rejects plain-http key URLs off loopback, duplicate issuers, reserved forward headers', () => {
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', jwksUrl: 'http://a.example/jwks' }] })).toEqual([
      'routes[0].policies[0].issuers[0].jwksUrl: must be an https URL (http only on 127.0.0.1 or localhost)',
    ])
    expect(
      problems({
        type: 'jwt',
        issuers: [
          { issuer: 'https://a', discovery: true },
          { issuer: 'https://a', discovery: true },
        ],
        forwardClaims: { Host: 'sub' },
      }),
    ).toEqual(['routes[0].policies[0].issuers[1].issuer: duplicate issuer "https://a" (also issuers[0])', 'routes[0].policies[0].forwardClaims.Host: "Host" can\'t carry a claim'])
    expect(problems({ type: 'jwt', issuers: [] })).toEqual(['routes[0].policies[0].issuers: needs at least one issuer'])
  })

  it('checks token and cache bounds, and api-key sources', () => {
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', discovery: true }], token: { maxBytes: 100_000 } })[0]).toMatch(
      /^routes\[0\]\.policies\[0\]\.token\.maxBytes: Invalid value: Expected <=16384/,
    )
    expect(problems({ type: 'jwt', issuers: [{ issuer: 'https://a', discovery: true, cache: { cooldown: 0 } }] })[0]).toMatch(
      /^routes\[0\]\.policies\[0\]\.issuers\[0\]\.cache\.cooldown: Invalid value/,
    )
    expect(problems({ type: 'api-key' })).toEqual(['routes[0].policies[0]: no keys can match: set "kv" or give a consumer "apiKeySecrets"'])
  })

  it('counts discovery and JWKS fetches in the subrequest budget', () => {
    const result = parseConfig({
      gateway: { maxSubrequests: 2 },
      upstreams: { o: { url: 'https://o.example' } },
      routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'jwt', issuers: [{ issuer: 'https://a', discovery: true }] }, { type: 'api-key', kv: 'K' }], action: { type: 'proxy', upstream: 'o' } }],
    })
    expect(result.ok ? [] : result.problems).toEqual(['routes[0]: needs up to 4 subrequests per request (action 1, policies 3), over the limit of 2 (gateway.plan "free")'])
  })
})
