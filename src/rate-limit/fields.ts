/**
 * @module
 * The `RateLimit-Policy` and `RateLimit` response fields of draft-ietf-httpapi-ratelimit-headers
 * (current syntax, RFC 9651 structured-field lists):
 *
 *   RateLimit-Policy: "burst";q=100;w=60, "daily";q=1000;w=86400
 *   RateLimit: "burst";r=50;t=30, "daily";r=999;t=3600
 *
 * `q` is the quota, `w` the window in seconds, `r` the units remaining, `t` the seconds until more
 * quota is made available. Seconds are rounded up, so a client waiting `t` is never early.
 */

/** An sf-string (names are config `Name`s, but escape anyway: a header must never break). */
const sfString = (text: string) => `"${text.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`

/**
 * Limit names as sf-strings, made once: every answer of a limited route writes each name twice.
 * Names come from configs, so the map holds what this isolate's configs named.
 */
const quotedNames = new Map<string, string>()
function quoted(name: string): string {
  let text = quotedNames.get(name)
  if (text === undefined) quotedNames.set(name, (text = sfString(name)))
  return text
}

export const toSeconds = (ms: number) => Math.max(0, Math.ceil(ms / 1000))

export function policyItem(name: string, quota: number, windowMs: number): string {
  return `${quoted(name)};q=${quota};w=${toSeconds(windowMs)}`
}

export function stateItem(name: string, remaining: number, resetMs: number): string {
  return `${quoted(name)};r=${Math.max(0, remaining)};t=${toSeconds(resetMs)}`
}
