/**
 * Property tests of Cache-Control parsing and the store decision (src/http-cache/freshness.ts):
 * any header text parses without throwing; text written to the RFC 9111 grammar parses to exactly
 * the directives written; any origin headers give a decision with sane numbers.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decideStore, entryState, parseCacheControl, seconds, storeSeconds } from '../../src/http-cache/freshness'
import { fuzzOptions } from '../support/fuzz'

// RFC 9110 section 5.6.2: token = 1*tchar.
const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('')
const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 12 })
// Section 5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (obs-text left out: a Headers value is Latin-1).
const QDTEXT = fc.oneof(fc.constantFrom('\t', ' ', '!'), fc.integer({ min: 0x23, max: 0x7e }).filter((c) => c !== 0x5c).map((c) => String.fromCharCode(c)))
const PAIRED = fc.oneof(fc.constantFrom('\t', ' '), fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)))
const quotedPart = fc.oneof(QDTEXT.map((ch) => ({ raw: ch, text: ch })), PAIRED.map((ch) => ({ raw: `\\${ch}`, text: ch })))
const quoted = fc.array(quotedPart, { maxLength: 10 }).map((parts) => ({ raw: `"${parts.map((p) => p.raw).join('')}"`, text: parts.map((p) => p.text).join('') }))
const argument = fc.oneof(token.map((t) => ({ raw: t, text: t })), quoted)
const ows = fc.constantFrom('', ' ', '\t', '  ')
// Section 5.2: Cache-Control = #cache-directive; cache-directive = token [ "=" ( token / quoted-string ) ].
const directive = fc.record({ name: token, arg: fc.option(argument, { nil: undefined }) })
const directives = fc.uniqueArray(directive, { minLength: 1, maxLength: 12, selector: (d) => d.name.toLowerCase() })

describe('Cache-Control parsing, fuzzed', () => {
  it('never throws, whatever the text; names are lower-case tokens without separators', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: fc.constantFrom('a', '=', ',', '"', '\\', ' ', '1', 'max-age'), maxLength: 60 })), (text) => {
        const parsed = parseCacheControl(text)
        for (const [name, value] of parsed) {
          expect(name).toBe(name.toLowerCase())
          expect(/[\s,=]/.test(name)).toBe(false)
          expect(value === true || typeof value === 'string').toBe(true)
          const s = seconds(parsed, name)!
          expect(Number.isInteger(s) && s >= 0 && s <= 2 ** 31).toBe(true)
        }
      }),
      fuzzOptions(3000),
    )
  })

  it('text written to the RFC 9111 grammar parses to exactly the directives written', () => {
    fc.assert(
      fc.property(directives, fc.array(fc.tuple(ows, ows), { minLength: 12, maxLength: 12 }), ows, (list, spaces, lead) => {
        const text = lead + list.map((d, i) => (i === 0 ? '' : `${spaces[i]![0]},${spaces[i]![1]}`) + d.name + (d.arg ? `=${d.arg.raw}` : '')).join('')
        const expected = new Map(list.map((d) => [d.name.toLowerCase(), d.arg ? d.arg.text : true]))
        expect(parseCacheControl(text)).toEqual(expected)
      }),
      fuzzOptions(3000),
    )
  })

  it('any origin headers give a store decision with finite, bounded numbers', () => {
    const headerValue = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('0', '-1', '1e9', 'NaN', '99999999999999999999', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Sun, 06 Nov 2094 08:49:37 GMT'))
    const cc = fc.oneof(fc.string({ maxLength: 40 }), directives.map((list) => list.map((d) => d.name + (d.arg ? `=${d.arg.raw}` : '')).join(', ')),
      fc.array(fc.constantFrom('public', 'max-age=60', 's-maxage=5', 'max-age=-3', 'max-age="7"', 'stale-while-revalidate=30', 'stale-if-error=99999999999', 'must-revalidate', 'max-age=1, max-age=2'), { maxLength: 4 }).map((l) => l.join(', ')))
    const options = { defaultTtl: 60, maxTtl: 3600, staleWhileRevalidate: 10, staleIfError: 20, statuses: new Set([200, 203, 301]) }
    const now = Date.UTC(2026, 11, 4)
    fc.assert(
      fc.property(fc.constantFrom(200, 203, 301, 404), cc, headerValue, headerValue, headerValue, fc.boolean(), fc.integer({ min: 0, max: 10_000 }), (status, cacheControl, expires, date, age, credentialed, later) => {
        const headers = new Headers({ 'cache-control': cacheControl, expires, date, age })
        const decision = decideStore(status, headers, options, credentialed, now)
        if (!decision.store) {
          expect(typeof decision.reason).toBe('string')
          return
        }
        const { ttl, swr, sie, storedAt } = decision.freshness
        for (const n of [ttl, swr, sie]) expect(Number.isInteger(n) && n >= 0 && n <= options.maxTtl).toBe(true)
        expect(Number.isFinite(storedAt) && storedAt <= now).toBe(true)
        const at = now + later * 1000
        expect(['fresh', 'stale-while-revalidate', 'stale-if-error', 'expired']).toContain(entryState(decision.freshness, at).state)
        expect(storeSeconds(decision.freshness, at)).toBeGreaterThanOrEqual(1)
      }),
      fuzzOptions(2000),
    )
  })
})
