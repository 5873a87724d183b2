/**
 * @module
 * Targeted cache control (RFC 9213): `CDN-Cache-Control`, or a field of the gateway's own that a
 * route names, speaks to this cache only. When one is present and valid it replaces
 * `Cache-Control` and `Expires` for us; it never leaves the gateway. The field is a Structured
 * Field dictionary (RFC 8941): one that doesn't parse, or whose `max-age` / `s-maxage` is not an
 * integer, is ignored as a whole (RFC 9213 section 2.1).
 */
/** Directive name -> value (`true` when it has none); the shape `parseCacheControl` returns. */
type Directives = Map<string, string | true>

const KEY = /^[a-z*][a-z0-9_.*-]*$/
const BARE_ITEM = /^(?:-?\d{1,15}(?:\.\d{1,3})?|"(?:[^"\\\x00-\x1f\x7f]|\\["\\])*"|[A-Za-z*][!#$%&'*+\-.^_`|~:/\w]*|:[A-Za-z0-9+/=]*:|\?[01])$/
const INTEGER = /^-?\d{1,15}$/
const NUMERIC = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error'])

/** Splits at commas outside quoted strings; each part trimmed of SP / HTAB. */
function members(value: string): string[] {
  const out: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]
    if (quoted && ch === '\\') i++
    else if (ch === '"') quoted = !quoted
    else if (ch === ',' && !quoted) {
      out.push(value.slice(start, i))
      start = i + 1
    }
  }
  out.push(value.slice(start))
  return out.map((m) => m.replace(/^[ \t]+|[ \t]+$/g, ''))
}

/** The directives of a targeted field, or undefined when it is not a valid dictionary of the right types. */
export function parseTargeted(value: string): Directives | undefined {
  const out: Directives = new Map()
  for (const member of members(value)) {
    // Parameters (`;a=1`) are allowed by the syntax and mean nothing here.
    const [item, ...params] = member.split(';')
    const eq = item!.indexOf('=')
    const name = eq < 0 ? item! : item!.slice(0, eq)
    const bare = eq < 0 ? undefined : item!.slice(eq + 1)
    if (!KEY.test(name) || (bare !== undefined && !BARE_ITEM.test(bare))) return undefined
    for (const param of params) {
      const [pName, pValue] = param.trim().split('=', 2)
      if (!KEY.test(pName ?? '') || (pValue !== undefined && !BARE_ITEM.test(pValue))) return undefined
    }
    if (NUMERIC.has(name) && (bare === undefined || !INTEGER.test(bare))) return undefined
    out.set(name, bare === undefined || bare === '?1' ? true : bare)
  }
  return out
}

/** The first of `fields` the response carries with a valid value, with its directives. */
export function targetedDirectives(headers: Headers, fields: readonly string[]): Directives | undefined {
  for (const field of fields) {
    const value = headers.get(field)
    if (value === null) continue
    const directives = parseTargeted(value)
    if (directives) return directives
  }
  return undefined
}
