/** `ip-rules`: IPv4, IPv6, CIDR edges, deny over allow, countries; the parser on its own too. */
import { describe, expect, it } from 'vitest'
import { inRange, parseIp, parseRange } from '../../src/core/ip-address'
import { originConfig, testGateway } from '../support/gateway'

function gateway(rules: Record<string, unknown>) {
  return testGateway(originConfig({ policies: [{ type: 'ip-rules', ...rules } as never] }))
}

async function statusFor(gw: ReturnType<typeof gateway>, ip: string | undefined, country?: string): Promise<number> {
  const init: RequestInit & { cf?: unknown } = { headers: ip === undefined ? {} : { 'cf-connecting-ip': ip } }
  if (country !== undefined) init.cf = { country }
  const res = await gw.fetch('/echo/ip', init)
  if (res.status === 403) {
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(((await res.json()) as { code: string }).code).toBe('ERR_FORBIDDEN')
  } else await res.body?.cancel()
  return res.status
}

/** Each row is an address (undefined: none), the status it must get, and optionally its country. */
type Row = [ip: string | undefined, status: number, country?: string]

async function expectStatuses(gw: ReturnType<typeof gateway>, rows: Row[]): Promise<void> {
  for (const [ip, status, country] of rows) expect(await statusFor(gw, ip, country), `${ip ?? 'no address'} ${country ?? ''}`).toBe(status)
}

describe('ip parsing', () => {
  it('reads IPv4, IPv6 in compressed and full forms, and IPv4-mapped IPv6 as one address', () => {
    const hex = (ip: string) => [...parseIp(ip)!].map((b) => b.toString(16).padStart(2, '0')).join('')
    expect(hex('192.0.2.1')).toBe(hex('::ffff:192.0.2.1'))
    expect(hex('::ffff:c000:0201')).toBe(hex('192.0.2.1'))
    expect(hex('2001:db8::1')).toBe(hex('2001:0db8:0000:0000:0000:0000:0000:0001'))
    expect(hex('::')).toBe('0'.repeat(32))
    expect(hex('::1')).toBe('0'.repeat(31) + '1')
    expect(hex('1::')).toBe('0001' + '0'.repeat(28))
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', ':1::', 'fe80::1%eth0', '[::1]', '', 'abc', '1:2:3:4:5:6:7::8:9']) {
      expect(parseIp(bad), bad).toBeUndefined()
    }
  })

  it('CIDR edges: first and last address in, neighbours out', () => {
    const range = parseRange('10.1.2.0/23')
    expect(inRange(parseIp('10.1.2.0')!, range)).toBe(true)
    expect(inRange(parseIp('10.1.3.255')!, range)).toBe(true)
    expect(inRange(parseIp('10.1.1.255')!, range)).toBe(false)
    expect(inRange(parseIp('10.1.4.0')!, range)).toBe(false)
    const v6 = parseRange('2001:db8:abcd:8000::/49')
    expect(inRange(parseIp('2001:db8:abcd:8000::')!, v6)).toBe(true)
    expect(inRange(parseIp('2001:db8:abcd:ffff:ffff:ffff:ffff:ffff')!, v6)).toBe(true)
    expect(inRange(parseIp('2001:db8:abcd:7fff:ffff:ffff:ffff:ffff')!, v6)).toBe(false)
    expect(inRange(parseIp('203.0.113.7')!, parseRange('0.0.0.0/0'))).toBe(true)
    expect(inRange(parseIp('2001:db8::1')!, parseRange('0.0.0.0/0'))).toBe(false)
    expect(inRange(parseIp('203.0.113.7')!, parseRange('::/0'))).toBe(true)
    expect(inRange(parseIp('203.0.113.7')!, parseRange('203.0.113.7'))).toBe(true)
    expect(inRange(parseIp('203.0.113.8')!, parseRange('203.0.113.7/32'))).toBe(false)
  })
})

describe('ip-rules policy', () => {
  it('allow list: IPv4 CIDR edges, IPv4-mapped IPv6, IPv6 compressed forms', async () => {
    await expectStatuses(gateway({ allow: ['198.51.100.0/24', '2001:db8::/32'] }), [
      ['198.51.100.0', 200],
      ['198.51.100.255', 200],
      ['198.51.101.0', 403],
      ['198.51.99.255', 403],
      ['::ffff:198.51.100.7', 200],
      ['2001:db8::1', 200],
      ['2001:0DB8:ffff:ffff:ffff:ffff:ffff:ffff', 200],
      ['2001:db9::', 403],
      [undefined, 403],
      ['not-an-ip', 403],
    ])
  })

  it('deny wins over allow', async () => {
    await expectStatuses(gateway({ allow: ['10.0.0.0/8', '::/0'], deny: ['10.6.6.0/24', '2001:db8:bad::/48'] }), [
      ['10.6.5.255', 200],
      ['10.6.6.0', 403],
      ['10.6.6.255', 403],
      ['::ffff:10.6.6.1', 403],
      ['2001:db8:bad:1::', 403],
      ['2001:db8:bae::', 200],
    ])
  })

  it('deny list alone lets unknown and other addresses through', async () => {
    await expectStatuses(gateway({ deny: ['203.0.113.5'] }), [
      ['203.0.113.5', 403],
      ['203.0.113.6', 200],
      [undefined, 200],
    ])
  })

  it('countries from request.cf.country: deny over allow, unknown fails an allow list', async () => {
    await expectStatuses(gateway({ countries: { allow: ['DE', 'FR'], deny: ['FR'] } }), [
      [undefined, 200, 'DE'],
      [undefined, 403, 'FR'],
      [undefined, 403, 'US'],
      [undefined, 403],
    ])
  })

  it('runs before routing as a global policy, so it covers 404s', async () => {
    const gw = gateway({ deny: ['192.0.2.0/24'] })
    const res = await gw.fetch('/no/such/route', { headers: { 'cf-connecting-ip': '192.0.2.1' } })
    expect(res.status).toBe(403)
  })
})
