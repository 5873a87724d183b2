/** `match.sourceIp` and `match.country` select a route by the client's address and country. */
import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'

const text = (body: string) => ({ type: 'respond' as const, body })

const gateway = testGateway({
  routes: [
    { id: 'office', match: { path: '/app', sourceIp: ['203.0.113.0/24', '2001:db8:1::/48', '198.51.100.7'] }, action: text('office') },
    { id: 'eu', match: { path: '/app', country: ['DE', 'FR'] }, action: text('eu') },
    { id: 'office-eu', match: { path: '/both', sourceIp: ['203.0.113.0/24'], country: ['DE'] }, action: text('office in DE') },
    { id: 'everyone', match: { path: '/app' }, action: text('public') },
  ],
})

async function routeFor(path: string, ip: string | undefined, country?: string): Promise<string> {
  const init: RequestInit & { cf?: Partial<IncomingRequestCfProperties> } = { headers: ip === undefined ? {} : { 'cf-connecting-ip': ip } }
  if (country !== undefined) init.cf = { country: country as Iso3166Alpha2Code }
  const res = await gateway.fetch(path, init)
  return res.status === 200 ? res.text() : `${res.status}`
}

describe('match.sourceIp', () => {
  it.each([
    ['203.0.113.1', 'office'],
    ['203.0.113.255', 'office'],
    ['::ffff:203.0.113.9', 'office'],
    ['198.51.100.7', 'office'],
    ['198.51.100.8', 'public'],
    ['203.0.114.0', 'public'],
    ['2001:db8:1:ffff::1', 'office'],
    ['2001:db8:2::1', 'public'],
    [' 203.0.113.4 ', 'office'],
    ['203.0.113.1, 10.0.0.1', 'public'],
    ['not-an-ip', 'public'],
    [undefined, 'public'],
  ])('%s selects %s', async (ip, route) => {
    expect(await routeFor('/app', ip)).toBe(route)
  })
})

describe('match.country', () => {
  it('selects by request.cf.country; no cf or another country falls through', async () => {
    expect(await routeFor('/app', '192.0.2.1', 'DE')).toBe('eu')
    expect(await routeFor('/app', '192.0.2.1', 'FR')).toBe('eu')
    expect(await routeFor('/app', '192.0.2.1', 'US')).toBe('public')
    expect(await routeFor('/app', '192.0.2.1')).toBe('public')
    // The first route in config order whose conditions all hold wins.
    expect(await routeFor('/app', '203.0.113.5', 'DE')).toBe('office')
  })

  it('needs every condition of a route to hold: no other route means 404', async () => {
    expect(await routeFor('/both', '203.0.113.5', 'DE')).toBe('office in DE')
    expect(await routeFor('/both', '203.0.113.5', 'US')).toBe('404')
    expect(await routeFor('/both', '192.0.2.1', 'DE')).toBe('404')
    const res = await gateway.fetch('/both', { headers: { 'cf-connecting-ip': '192.0.2.1' } })
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(((await res.json()) as { code: string }).code).toBe('ERR_ROUTE_NOT_FOUND')
  })
})
