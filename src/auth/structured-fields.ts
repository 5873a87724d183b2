/**
 * @module
 * RFC 8941 structured fields, only as far as `Signature-Input` and `Signature` (RFC 9421) need
 * them: a dictionary whose members are inner lists or items, with parameters; bare items that are
 * integers, strings, tokens, byte sequences and booleans. Decimals are refused: neither field uses
 * them. Strict, as RFC 8941 §4.2 asks: any deviation fails the whole field (`StructuredFieldError`),
 * never a best guess, so a signature's parameters are exactly what the signer serialised.
 */

export type BareItem = number | string | boolean | Uint8Array | { token: string }
export type Parameters = Map<string, BareItem>
export type Item = { value: BareItem; params: Parameters }
export type InnerList = { items: Item[]; params: Parameters }
export type Member = Item | InnerList

export class StructuredFieldError extends Error {}

const KEY_START = /[a-z*]/
const KEY_CHAR = /[a-z0-9_\-.*]/
const TOKEN_START = /[A-Za-z*]/
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Parses a dictionary field value (RFC 8941 §4.2.2). Keys keep their order; a repeated key keeps the last value, as §4.2.2 says. */
export function parseDictionary(text: string): Map<string, Member> {
  const p = new Parser(text)
  const members = new Map<string, Member>()
  p.skipSpaces()
  while (!p.done()) {
    const key = p.key()
    let member: Member
    if (p.peek() === '=') {
      p.pos++
      member = p.peek() === '(' ? p.innerList() : p.item()
    } else {
      member = { value: true, params: p.params() }
    }
    members.set(key, member)
    p.skipOws()
    if (p.done()) break
    if (p.next() !== ',') p.fail()
    p.skipOws()
    if (p.done()) p.fail()
  }
  return members
}

export function isInnerList(member: Member): member is InnerList {
  return 'items' in member
}

class Parser {
  pos = 0
  constructor(readonly text: string) {}
  done = () => this.pos >= this.text.length
  peek = () => this.text[this.pos] ?? ''
  next = () => this.text[this.pos++] ?? ''
  /** No reason text: the caller only logs that the field is malformed, and the bundle stays small. */
  fail(): never {
    throw new StructuredFieldError(`malformed at character ${this.pos}`)
  }
  skipSpaces() {
    while (this.peek() === ' ') this.pos++
  }
  skipOws() {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++
  }

  key(): string {
    if (!KEY_START.test(this.peek())) this.fail()
    const start = this.pos
    while (KEY_CHAR.test(this.peek())) this.pos++
    return this.text.slice(start, this.pos)
  }

  innerList(): InnerList {
    this.pos++ // "("
    const items: Item[] = []
    for (;;) {
      this.skipSpaces()
      if (this.peek() === ')') {
        this.pos++
        return { items, params: this.params() }
      }
      items.push(this.item())
      if (this.peek() !== ' ' && this.peek() !== ')') this.fail()
    }
  }

  item(): Item {
    return { value: this.bareItem(), params: this.params() }
  }

  params(): Parameters {
    const params: Parameters = new Map()
    while (this.peek() === ';') {
      this.pos++
      this.skipSpaces()
      const key = this.key()
      let value: BareItem = true
      if (this.peek() === '=') {
        this.pos++
        value = this.bareItem()
      }
      params.set(key, value)
    }
    return params
  }

  bareItem(): BareItem {
    const ch = this.peek()
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.integer()
    if (ch === '"') return this.string()
    if (ch === ':') return this.bytes()
    if (ch === '?') return this.boolean()
    if (TOKEN_START.test(ch)) return this.token()
    return this.fail()
  }

  integer(): number {
    const match = /^-?[0-9]{1,15}/.exec(this.text.slice(this.pos, this.pos + 16))
    if (!match) this.fail()
    this.pos += match[0].length
    if (this.peek() === '.') this.fail()
    if (/[0-9]/.test(this.peek())) this.fail()
    return Number(match[0])
  }

  string(): string {
    this.pos++
    let out = ''
    for (;;) {
      if (this.done()) this.fail()
      const ch = this.next()
      if (ch === '"') return out
      if (ch === '\\') {
        const escaped = this.next()
        if (escaped !== '"' && escaped !== '\\') this.fail()
        out += escaped
      } else if (ch < ' ' || ch > '~') this.fail()
      else out += ch
    }
  }

  token(): { token: string } {
    const start = this.pos++
    while (TOKEN_CHAR.test(this.peek())) this.pos++
    return { token: this.text.slice(start, this.pos) }
  }

  bytes(): Uint8Array {
    const end = this.text.indexOf(':', this.pos + 1)
    if (end < 0) this.fail()
    const encoded = this.text.slice(this.pos + 1, end)
    if (!BASE64.test(encoded) || encoded.length % 4 !== 0) this.fail()
    this.pos = end + 1
    return Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0))
  }

  boolean(): boolean {
    this.pos++
    const ch = this.next()
    if (ch !== '0' && ch !== '1') this.fail()
    return ch === '1'
  }
}

/** Serialises a bare item (RFC 8941 §4.1.3). */
export function serializeBareItem(value: BareItem): string {
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
  if (typeof value === 'boolean') return value ? '?1' : '?0'
  if (value instanceof Uint8Array) return `:${btoa(String.fromCharCode(...value))}:`
  return value.token
}

export function serializeParams(params: Parameters): string {
  let out = ''
  for (const [key, value] of params) out += value === true ? `;${key}` : `;${key}=${serializeBareItem(value)}`
  return out
}

/** Serialises an inner list with its parameters (RFC 8941 §4.1.1.1): how `@signature-params` reads. */
export function serializeInnerList(list: InnerList): string {
  return `(${list.items.map((item) => serializeBareItem(item.value) + serializeParams(item.params)).join(' ')})${serializeParams(list.params)}`
}
