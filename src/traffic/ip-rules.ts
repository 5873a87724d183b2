/**
 * @module
 * `ip-rules`: allow and deny lists of IP addresses and CIDR ranges (IPv4 and IPv6) for the client
 * address in `CF-Connecting-IP`, and of countries (`request.cf.country`). A refused request gets
 * 403 problem+json.
 *
 * Deny wins over allow. Each dimension is checked on its own: a request must not match any deny
 * list, and must match every allow list that is set. A request with no (or an unparsable) client
 * address, or no country, matches no list: it passes deny lists and fails allow lists.
 * IPv4 ranges also match IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`); `::/0` matches everyone.
 *
 * @example
 * { "type": "ip-rules", "allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["10.6.6.0/24"],
 *   "countries": { "deny": ["KP"] } }
 */
import * as v from 'valibot'
import { GatewayError } from '../core/errors'
import { clientCountry, clientIp, inAnyRange } from '../core/ip-address'
import { CountryCode, IpRangeString } from '../core/schema'
import { definePolicy } from '../core/policy'

const CountryLists = v.strictObject({ allow: v.optional(v.array(CountryCode)), deny: v.optional(v.array(CountryCode)) })

function matcher(list: string[] | undefined): ((ip: Uint8Array | undefined) => boolean) | undefined {
  return list && list.length > 0 ? inAnyRange(list) : undefined
}

const forbidden = (detail: string, reason: string) => new GatewayError('ERR_FORBIDDEN', { detail, extensions: { reason } })

export const ipRulesPolicy = definePolicy({
  type: 'ip-rules',
  phase: 'request',
  schema: v.strictObject({
    type: v.literal('ip-rules'),
    allow: v.pipe(v.optional(v.array(IpRangeString)), v.description(SCHEMA_DOCS ? 'Only these addresses/ranges may call (`10.0.0.0/8`, `2001:db8::/32`).' : '')),
    deny: v.pipe(v.optional(v.array(IpRangeString)), v.description(SCHEMA_DOCS ? 'These may not, even when also allowed.' : '')),
    countries: v.pipe(v.optional(CountryLists), v.description(SCHEMA_DOCS ? 'Country codes from `request.cf.country`.' : '')),
  }),
  check(options, ctx) {
    if (!options.allow?.length && !options.deny?.length && !options.countries?.allow?.length && !options.countries?.deny?.length) {
      ctx.error('', 'set at least one of "allow", "deny", "countries.allow" or "countries.deny"')
    }
  },
  create(options) {
    const allowed = matcher(options.allow)
    const denied = matcher(options.deny)
    const countryAllow = options.countries?.allow?.length ? new Set(options.countries.allow) : undefined
    const countryDeny = options.countries?.deny?.length ? new Set(options.countries.deny) : undefined
    return async function ipRules(c, next) {
      if (allowed || denied) {
        const ip = clientIp(c.req.raw.headers)
        if (denied?.(ip)) throw forbidden('Requests from this address are not allowed.', 'ip-denied')
        if (allowed && !allowed(ip)) throw forbidden('Requests from this address are not allowed.', 'ip-not-allowed')
      }
      if (countryAllow || countryDeny) {
        const code = clientCountry(c.req.raw)
        if (code !== undefined && countryDeny?.has(code)) throw forbidden('Requests from this country are not allowed.', 'country-denied')
        if (countryAllow && (code === undefined || !countryAllow.has(code))) {
          throw forbidden('Requests from this country are not allowed.', 'country-not-allowed')
        }
      }
      await next()
    }
  },
})
