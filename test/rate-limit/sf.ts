/**
 * A small RFC 9651 (structured fields) list parser for the tests: enough to check RateLimit and
 * RateLimit-Policy strictly (strings, tokens, integers, parameters). Throws on anything malformed.
 */
export type BareItem = string | number | boolean | { token: string }
export type Item = { value: BareItem; params: Record<string, BareItem> }

export function parseList(input: string): Item[] {
  let i = 0
  const s = input
  const fail = (why: string): never => {
    throw new SyntaxError(`${why} at ${i} in ${JSON.stringify(s)}`)
  }
  const ows = () => {
    while (s[i] === ' ' || s[i] === '\t') i++
  }
  const sp = () => {
    while (s[i] === ' ') i++
  }
  const bare = (): BareItem => {
    const ch = s[i]
    if (ch === '"') {
      i++
      let out = ''
      for (;;) {
        const c = s[i++]
        if (c === undefined) fail('unterminated string')
        if (c === '\\') {
          const next = s[i++]
          if (next !== '"' && next !== '\\') fail('bad escape')
          out += next
        } else if (c === '"') return out
        else if (c! < ' ' || c! > '~') fail('bad string char')
        else out += c
      }
    }
    if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) {
      const m = /^-?\d{1,15}(\.\d{1,3})?/.exec(s.slice(i)) ?? fail('bad number')
      i += m[0].length
      return Number(m[0])
    }
    if (ch === '?') {
      i++
      const b = s[i++]
      if (b !== '0' && b !== '1') fail('bad boolean')
      return b === '1'
    }
    const m = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(s.slice(i)) ?? fail('bad item')
    i += m[0].length
    return { token: m[0] }
  }
  const key = () => {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(s.slice(i)) ?? fail('bad key')
    i += m[0].length
    return m[0]
  }
  const items: Item[] = []
  sp()
  while (i < s.length) {
    const value = bare()
    const params: Record<string, BareItem> = {}
    while (s[i] === ';') {
      i++
      sp()
      const k = key()
      let v: BareItem = true
      if (s[i] === '=') {
        i++
        v = bare()
      }
      params[k] = v
    }
    items.push({ value, params })
    ows()
    if (i >= s.length) break
    if (s[i] !== ',') fail('expected ","')
    i++
    ows()
    if (i >= s.length) fail('trailing comma')
  }
  return items
}
