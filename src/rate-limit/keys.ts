/**
 * @module
 * Limit keys: which requests share a counter. A key is a list of parts — `consumer`, `ip`
 * (`CF-Connecting-IP`), `route`, `apiKey` (the API key an `api-key` policy verified, hashed; none
 * when no key was verified) or `{ "header": name }`
 * — rendered as `name=value` pairs joined by `&` (`consumer=alice&route=orders`). The rendered key
 * names the Durable Object (`idFromName`), and is what the admin API takes to read or reset it.
 *
 * When a part has no value (no consumer before authentication, a missing header) the limit's
 * `fallback` key is used instead (e.g. consumer -> ip). If that is missing too, the part renders as
 * `~`: such requests share one counter rather than escaping the limit.
 */
import * as v from 'valibot'
import { HeaderName } from '../core/schema'
import { sha256Hex } from '../core/encoding'

// The picklist comes last: a union reports its last member's issue, and that message lists every form.
export const KeyPartSchema = v.union([
  v.strictObject({
    header: HeaderName,
    hash: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Count by a SHA-256 of the value, for secrets.' : '')),
  }),
  v.picklist(['consumer', 'ip', 'route', 'apiKey'], 'must be "consumer", "ip", "route", "apiKey" or { "header": name }'),
])

export const KeySpecSchema = v.pipe(v.array(KeyPartSchema), v.minLength(1, 'needs at least one part'), v.maxLength(4, 'at most 4 parts'))

export type KeyPart = v.InferOutput<typeof KeyPartSchema>
export type KeySpec = v.InferOutput<typeof KeySpecSchema>

/** What a key is derived from: the request and what earlier phases established. */
export type KeyInput = {
  consumer: string | undefined
  ip: string | undefined
  route: string | undefined
  headers: Headers
  /** The SHA-256 (hex) of the API key the `api-key` policy verified; never the raw header. */
  apiKey?: string | undefined
}

/** Values longer than this are hashed, so object names stay short whatever a client sends. */
const MAX_VALUE = 128
const MISSING = '~'


type CompiledPart = { label: string; read(input: KeyInput): string | undefined; hash: boolean }

function compilePart(part: KeyPart): CompiledPart {
  if (part === 'consumer') return { label: 'consumer', read: (i) => i.consumer, hash: false }
  if (part === 'ip') return { label: 'ip', read: (i) => i.ip, hash: false }
  if (part === 'route') return { label: 'route', read: (i) => i.route, hash: false }
  if (part === 'apiKey') return { label: 'apikey#', read: (i) => i.apiKey, hash: true }
  const name = part.header.toLowerCase()
  return { label: part.hash ? `h.${name}#` : `h.${name}`, read: (i) => i.headers.get(name) ?? undefined, hash: part.hash }
}

/** A key derivation, built once per limit: `derive(input)` gives the object's name. */
export type KeyFunction = {
  /** Stable text of the spec and fallback: limits with equal signatures always share a key. */
  readonly signature: string
  derive(input: KeyInput): Promise<{ key: string; fallback: boolean }>
  /** `derive` without a promise, when no part needs hashing (else undefined: `derive` then). */
  deriveNow(input: KeyInput): { key: string; fallback: boolean } | undefined
}

/** A part as key text without hashing; undefined when its value must be hashed (set apart, or too long). */
function plainText(part: CompiledPart, value: string | undefined): string | undefined {
  if (value === undefined) return `${part.label}=${MISSING}`
  if (part.hash || value.length > MAX_VALUE) return undefined
  // URI-encoded so `&` and `=` can't forge another part; `:` kept so IPv6 addresses stay readable.
  return `${part.label}=${encodeURIComponent(value).replaceAll('%3A', ':')}`
}

async function render(parts: CompiledPart[], values: (string | undefined)[]): Promise<string> {
  const rendered = await Promise.all(parts.map(async (part, i) => plainText(part, values[i]) ?? `${part.label}=${await sha256Hex(values[i]!, 16)}`))
  return rendered.join('&')
}

/** `render` for values that need no hashing; undefined when one does. */
function renderNow(parts: CompiledPart[], values: (string | undefined)[]): string | undefined {
  // Most keys have one part (`ip`, `consumer`): its text is the key, no list to join.
  if (parts.length === 1) return plainText(parts[0]!, values[0])
  const rendered: string[] = []
  for (let i = 0; i < parts.length; i++) {
    const text = plainText(parts[i]!, values[i])
    if (text === undefined) return undefined
    rendered.push(text)
  }
  return rendered.join('&')
}

const valuesOf = (parts: CompiledPart[], input: KeyInput) =>
  parts.map((part) => {
    const value = part.read(input)?.trim()
    return value ? value : undefined
  })

export function compileKey(by: KeySpec, fallback?: KeySpec): KeyFunction {
  const primary = by.map(compilePart)
  const secondary = fallback?.map(compilePart)
  /** The primary parts, or the fallback's when a primary value is missing. */
  const chosen = (input: KeyInput) => {
    const values = valuesOf(primary, input)
    if (secondary && values.includes(undefined)) return { parts: secondary, values: valuesOf(secondary, input), fallback: true }
    return { parts: primary, values, fallback: false }
  }
  return {
    signature: JSON.stringify([by, fallback ?? null]),
    async derive(input) {
      const { parts, values, fallback } = chosen(input)
      return { key: await render(parts, values), fallback }
    },
    deriveNow(input) {
      const { parts, values, fallback } = chosen(input)
      const key = renderNow(parts, values)
      return key === undefined ? undefined : { key, fallback }
    },
  }
}
