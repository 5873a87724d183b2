/** `ip-rules`: IPv4, IPv6, CIDR edges, deny over allow, countries; the parser on its own too. */
import { describe, expect, it } from 'vitest'
import { inRange, parseIp, parseRange } from '../../src/traffic/ip-address'
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
    const gw = gateway({ allow: ['198.51.100.0/24', '2001:db8::/32'] })
    expect(await statusFor(gw, '198.51.100.0')).toBe(200)
    expect(await statusFor(gw, '198.51.100.255')).toBe(200)
    expect(await statusFor(gw, '198.51.101.0')).toBe(403)
    expect(await statusFor(gw, '198.51.99.255')).toBe(403)
    expect(await statusFor(gw, '::ffff:198.51.100.7')).toBe(200)
    expect(await statusFor(gw, '2001:db8::1')).toBe(200)
    expect(await statusFor(gw, '2001:0DB8:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(200)
    expect(await statusFor(gw, '2001:db9::')).toBe(403)
    expect(await statusFor(gw, undefined)).toBe(403)
    expect(await statusFor(gw, 'not-an-ip')).toBe(403)
  })

  it('deny wins over allow', async () => {
    const gw = gateway({ allow: ['10.0.0.0/8', '::/0'], deny: ['10.6.6.0/24', '2001:db8:bad::/48'] })
    expect(await statusFor(gw, '10.6.5.255')).toBe(200)
    expect(await statusFor(gw, '10.6.6.0')).toBe(403)
    expect(await statusFor(gw, '10.6.6.255')).toBe(403)
    expect(await statusFor(gw, '::ffff:10.6.6.1')).toBe(403)
    expect(await statusFor(gw, '2001:db8:bad:1::')).toBe(403)
    expect(await statusFor(gw, '2001:db8:bae::')).toBe(200)
  })

  it('deny list alone lets unknown and other addresses through', async () => {
    const gw = gateway({ deny: ['203.0.113.5'] })
    expect(await statusFor(gw, '203.0.113.5')).toBe(403)
    expect(await statusFor(gw, '203.0.113.6')).toBe(200)
    expect(await statusFor(gw, undefined)).toBe(200)
  })

  it('countries from request.cf.country: deny over allow, unknown fails an allow list', async () => {
    const gw = gateway({ countries: { allow: ['DE', 'FR'], deny: ['FR'] } })
    expect(await statusFor(gw, undefined, 'DE')).toBe(200)
    expect(await statusFor(gw, undefined, 'FR')).toBe(403)
    expect(await statusFor(gw, undefined, 'US')).toBe(403)
    expect(await statusFor(gw, undefined)).toBe(403)
  })

  it('runs before routing as a global policy, so it covers 404s', async () => {
    const gw = gateway({ deny: ['192.0.2.0/24'] })
    const res = await gw.fetch('/no/such/route', { headers: { 'cf-connecting-ip': '192.0.2.1' } })
    expect(res.status).toBe(403)
  })
})
