/**
 * @module
 * Small schema pieces shared by the gateway schema and every policy's schema.
 */
import * as v from 'valibot'
import { parseRange } from './ip-address'
import { regexProblem } from './regex'

/** Names of routes, upstreams, versions, bindings and secrets. */
export const Name = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be letters, digits, "_", "-" or "." (at most 128)'),
)

/** A duration in milliseconds (at most 15 minutes). */
export const Milliseconds = v.pipe(v.number(), v.integer('must be whole milliseconds'), v.minValue(1), v.maxValue(900_000))

/** The message of what `run` throws, if it throws. */
export function errorOf(run: () => unknown): string | undefined {
  try {
    run()
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

/**
 * A string the config only accepts when `problemOf` finds nothing wrong with it (a regex, a
 * template, a path expression): the problem is reported at the field it sits in.
 */
export function checkedString(problemOf: (value: string) => string | undefined) {
  return v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return
      const problem = problemOf(dataset.value)
      if (problem) addIssue({ message: problem })
    }),
  )
}

/** A regex the config runs on request data: it compiles, and cannot backtrack catastrophically (`core/regex.ts`). */
export const RegexString = checkedString((source) => regexProblem(source))

/** An HTTP header name (RFC 9110 token). */
export const HeaderName = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid header name'))

/** An IP address or CIDR range, IPv4 or IPv6 (`203.0.113.0/24`, `2001:db8::/32`, `192.0.2.7`). */
export const IpRangeString = checkedString((source) => errorOf(() => parseRange(source)))

/** ISO 3166-1 alpha-2 as Cloudflare reports it in `request.cf.country`, plus its `XX` (unknown) and `T1` (Tor). */
export const CountryCode = v.pipe(
  v.string(),
  v.check((code) => /^([A-Z]{2}|T1)$/.test(code), (issue) => `"${issue.input}" is not a country code: use ISO 3166-1 alpha-2 in capitals ("DE"), "XX" (unknown) or "T1" (Tor)`),
)
