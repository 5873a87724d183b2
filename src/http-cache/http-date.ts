/**
 * @module
 * HTTP-date (RFC 9110 section 5.6.7), strictly: IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms a recipient must still accept. Anything else is not a date (`Expires: 0`, `UTC` for `GMT`,
 * a missing comma, a one-digit hour): a cache then treats `Expires` as already past, where a
 * lenient `Date.parse` would have made up a lifetime.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/
const RFC_850 = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/

function utc(year: number, month: string, day: number, hour: number, minute: number, second: number): number | undefined {
  const m = MONTHS.indexOf(month)
  if (m < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined
  const time = Date.UTC(year, m, day, hour, minute, second)
  // 31 Feb and the like roll over into the next month: not a date.
  return new Date(time).getUTCDate() === day ? time : undefined
}

/** The time (ms) an HTTP-date names; undefined when `value` is not one. `now` places RFC 850's two-digit years. */
export function parseHttpDate(value: string | null, now: number): number | undefined {
  if (value === null) return undefined
  const text = value.trim()
  let m = IMF_FIXDATE.exec(text)
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  m = ASCTIME.exec(text)
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]))
  m = RFC_850.exec(text)
  if (!m) return undefined
  // A two-digit year more than 50 years ahead is the most recent past year with those digits.
  const thisYear = new Date(now).getUTCFullYear()
  let year = Math.floor(thisYear / 100) * 100 + Number(m[3])
  if (year > thisYear + 50) year -= 100
  return utc(year, m[2]!, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
}
