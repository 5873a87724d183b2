/**
 * @module
 * IP addresses and CIDR ranges, IPv4 and IPv6, as 16 bytes: an IPv4 address is held in its
 * IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), so `10.0.0.0/8` also matches a client that shows up
 * as `::ffff:10.1.2.3`, and one comparison serves both families.
 */

export type IpRange = { bytes: Uint8Array; prefix: number; source: string }

function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const out: number[] = []
  for (const part of parts) {
    // No leading zeros: `010` reads as octal in some tools, decimal in others.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    out.push(n)
  }
  return out
}

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]

function parseIpv6(text: string): Uint8Array | undefined {
  let rest = text
  let tail: number[] = []
  // An embedded IPv4 address ends the text: `::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`.
  const lastColon = rest.lastIndexOf(':')
  if (rest.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(rest.slice(lastColon + 1))
    if (!v4) return undefined
    tail = v4
    rest = rest.slice(0, lastColon + 1)
    if (!rest.endsWith('::')) rest = rest.slice(0, -1)
  }
  const halves = rest.split('::')
  if (halves.length > 2) return undefined
  const group = (g: string) => (/^[0-9A-Fa-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)
  const parse = (half: string) => (half === '' ? [] : half.split(':').map(group))
  const head = parse(halves[0]!)
  const back = halves.length === 2 ? parse(halves[1]!) : []
  if ([...head, ...back].some(Number.isNaN)) return undefined
  const groupsWanted = tail.length ? 6 : 8
  const given = head.length + back.length
  if (halves.length === 1 ? given !== groupsWanted : given >= groupsWanted) return undefined
  const groups = [...head, ...Array(groupsWanted - given).fill(0), ...back] as number[]
  const bytes = new Uint8Array(16)
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8
    bytes[i * 2 + 1] = g & 0xff
  })
  bytes.set(tail, 12)
  return bytes
}

/** Parses an IPv4 or IPv6 address (no brackets, no zone) into 16 bytes, or undefined. */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.includes(':')) return parseIpv6(text)
  const v4 = parseIpv4(text)
  return v4 ? new Uint8Array([...MAPPED_PREFIX, ...v4]) : undefined
}

/** Parses `1.2.3.0/24`, `2001:db8::/32` or a bare address; throws with a config-ready message. */
export function parseRange(source: string): IpRange {
  const slash = source.indexOf('/')
  const address = slash < 0 ? source : source.slice(0, slash)
  const isV4 = !address.includes(':')
  const bytes = parseIp(address)
  if (!bytes) throw new Error(`"${source}" is not an IP address or CIDR range ("203.0.113.0/24", "2001:db8::/32")`)
  const max = isV4 ? 32 : 128
  let length = max
  if (slash >= 0) {
    const text = source.slice(slash + 1)
    if (!/^\d{1,3}$/.test(text) || Number(text) > max) {
      throw new Error(`"${source}": the prefix length must be 0-${max} for ${isV4 ? 'IPv4' : 'IPv6'}`)
    }
    length = Number(text)
  }
  const prefix = isV4 ? 96 + length : length
  if (!hostBitsClear(bytes, prefix)) {
    const masked = maskTo(bytes, prefix)
    const shown = isV4 ? [...masked.slice(12)].join('.') : formatV6(masked)
    throw new Error(`"${source}" has bits set after the /${length} prefix (did you mean "${shown}/${length}"?)`)
  }
  return { bytes, prefix, source }
}

function maskTo(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes)
  for (let bit = prefix; bit < 128; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7))
  return out
}

function hostBitsClear(bytes: Uint8Array, prefix: number): boolean {
  return maskTo(bytes, prefix).every((b, i) => b === bytes[i])
}

function formatV6(bytes: Uint8Array): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16))
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
}

export function inRange(ip: Uint8Array, range: IpRange): boolean {
  const whole = range.prefix >> 3
  for (let i = 0; i < whole; i++) if (ip[i] !== range.bytes[i]) return false
  const bits = range.prefix & 7
  if (bits === 0) return true
  const mask = (0xff << (8 - bits)) & 0xff
  return (ip[whole]! & mask) === (range.bytes[whole]! & mask)
}

/**
 * The client's address: `CF-Connecting-IP`, which Cloudflare's edge sets (and overwrites) on every
 * request, so a client cannot choose it. Undefined when absent or unparsable.
 */
export function clientIp(headers: Headers): Uint8Array | undefined {
  const header = headers.get('cf-connecting-ip')
  return header !== null ? parseIp(header.trim()) : undefined
}

/** The client's country as Cloudflare reports it (`request.cf.country`), if any. */
export function clientCountry(request: Request): string | undefined {
  const country = (request.cf as { country?: unknown } | undefined)?.country
  return typeof country === 'string' ? country : undefined
}

/**
 * Whether an address is in any of `list` (addresses and CIDR ranges, already validated). No
 * address is in no list.
 */
export function inAnyRange(list: readonly string[]): (ip: Uint8Array | undefined) => boolean {
  const ranges: IpRange[] = list.map(parseRange)
  return (ip) => ip !== undefined && ranges.some((range) => inRange(ip, range))
}
