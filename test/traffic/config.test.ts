/** Config validation of the traffic policies: exact messages naming the config path. */
import { describe, expect, it } from 'vitest'
import { configProblems } from '../support/config'

const base = (policies: unknown[]) => ({
  upstreams: { o: { url: 'http://127.0.0.1:1' } },
  routes: [{ id: 'r', match: { path: '/items/:id' }, policies, action: { type: 'proxy', upstream: 'o' } }],
})

function problems(policies: unknown[]): string[] {
  return configProblems(base(policies))
}

describe('traffic policy validation', () => {
  it('ip-rules: bad CIDRs, host bits, country codes, empty rules', () => {
    expect(problems([{ type: 'ip-rules', allow: ['10.0.0.0/33', '10.0.0.1/8', 'nope', '2001:db8::/129', 'fe80::1/10'], countries: { deny: ['de'] } }])).toEqual([
      'routes[0].policies[0].allow[0]: "10.0.0.0/33": the prefix length must be 0-32 for IPv4',
      'routes[0].policies[0].allow[1]: "10.0.0.1/8" has bits set after the /8 prefix (did you mean "10.0.0.0/8"?)',
      'routes[0].policies[0].allow[2]: "nope" is not an IP address or CIDR range ("203.0.113.0/24", "2001:db8::/32")',
      'routes[0].policies[0].allow[3]: "2001:db8::/129": the prefix length must be 0-128 for IPv6',
      'routes[0].policies[0].allow[4]: "fe80::1/10" has bits set after the /10 prefix (did you mean "fe80::/10"?)',
      'routes[0].policies[0].countries.deny[0]: "de" is not a country code: use ISO 3166-1 alpha-2 in capitals ("DE"), "XX" (unknown) or "T1" (Tor)',
    ])
    expect(problems([{ type: 'ip-rules' }])).toEqual(['routes[0].policies[0]: set at least one of "allow", "deny", "countries.allow" or "countries.deny"'])
  })

  it('cors: "*" with credentials, malformed origins', () => {
    expect(problems([{ type: 'cors', origins: '*', credentials: true }])).toEqual([
      'routes[0].policies[0].origins: "*" can\'t be combined with "credentials": true (the Fetch standard refuses it); list the allowed origins',
    ])
    expect(problems([{ type: 'cors', origins: ['https://a.com/', 'https://*.b.com', 'HTTPS://C.com'] }])).toEqual([
      'routes[0].policies[0].origins[0]: "https://a.com/" is not an origin: write "scheme://host[:port]" in lower case with no path ("https://app.example.com", "https://*.example.com") or "*"',
      'routes[0].policies[0].origins[2]: "HTTPS://C.com" is not an origin: write "scheme://host[:port]" in lower case with no path ("https://app.example.com", "https://*.example.com") or "*"',
    ])
  })

  it('transform: bad dot paths, status codes, templates, rename across [], wrap through an index', () => {
    expect(problems([{ type: 'transform', request: { body: { remove: ['a..b'] } }, response: { status: { '40': 200, '404': 99 } } }])).toEqual([
      'routes[0].policies[0].request.body.remove[0]: invalid path "a..b": unexpected "."',
      'routes[0].policies[0].response.status["40"]: must be a status code ("404")',
      'routes[0].policies[0].response.status["404"]: must be 200-599',
    ])
    expect(
      problems([
        {
          type: 'transform',
          request: {
            path: '/x/{params.nope}',
            headers: { set: { 'X-A': '{bad.root}' } },
            query: { set: { q: '{cookies.a}' } },
            body: { rename: { 'a[].b': 'c', 'x[].y': 'x[].z' }, set: { x: '{nope.y}', y: '{body.a}', z: { deep: '{params.nope}' } }, wrap: 'a[0]' },
          },
        },
      ]),
    ).toEqual([
      'routes[0].policies[0].request.headers.set.X-A: unknown template variable "bad" in "{bad.root}" (known: params, query, headers, claims, consumer, request)',
      'routes[0].policies[0].request.query.set.q: unknown template variable "cookies" in "{cookies.a}" (known: params, query, headers, claims, consumer, request)',
      'routes[0].policies[0].request.path: unknown path parameter "nope" (the route declares: id)',
      'routes[0].policies[0].request.body.rename["a[].b"]: can\'t move values across "[]": "a[].b" and "c" must share everything up to their last "[]"',
      'routes[0].policies[0].request.body.wrap: "a[0]" must be names only (no "[...]")',
      'routes[0].policies[0].request.body.set["x"]: unknown template variable "nope" in "{nope.y}" (known: params, query, headers, claims, consumer, request, body)',
      'routes[0].policies[0].request.body.set["z"]: unknown path parameter "nope" (the route declares: id)',
    ])
  })

  it('request-limits: nothing set, inconsistent header sizes', () => {
    expect(problems([{ type: 'request-limits' }])).toEqual(['routes[0].policies[0]: set at least one limit'])
    expect(problems([{ type: 'request-limits', headers: { maxFieldBytes: 100, maxTotalBytes: 50 } }])).toEqual([
      'routes[0].policies[0].headers.maxFieldBytes: 100 is larger than headers.maxTotalBytes (50)',
    ])
  })

  it('origin-auth and mtls: names, not secrets; mtls only on url upstreams', () => {
    expect(problems([{ type: 'origin-auth', secret: 'not a name!' }])).toEqual([
      'routes[0].policies[0].secret: must be letters, digits, "_", "-" or "." (at most 128)',
    ])
    expect(configProblems({ upstreams: { o: { service: 'X', mtls: 'CERT' } }, routes: [] })).toEqual(['upstreams.o: "mtls" applies to URL targets, not a service binding'])
  })
})
