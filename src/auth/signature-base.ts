/**
 * @module
 * The signature base of RFC 9421 §2.5: one line per covered component, `"name": value`, then
 * `"@signature-params"` (the signature's inner list, serialised again). Covered are the derived
 * components a request has (`@method`, `@authority`, `@path`, `@query`, `@target-uri`,
 * `@scheme`, `@request-target`) and header fields, by their lower-case names, as their values
 * combine (`Headers.get`: values joined by ", ", trimmed). Component parameters (`sf`, `key`,
 * `bs`, `req`, `tr`, `name`) and `@query-param` are not supported: a signature naming one is
 * refused (`SignatureBaseError`), never checked against a base it didn't sign.
 */
import { serializeInnerList, type InnerList } from './structured-fields'

export const DERIVED_COMPONENTS = ['@method', '@authority', '@path', '@query', '@target-uri', '@scheme', '@request-target'] as const

export class SignatureBaseError extends Error {
  /** The code is all a caller logs; the client hears only that the signature is not valid. */
  constructor(readonly code: 'ERR_SIGNATURE_MALFORMED' | 'ERR_SIGNATURE_COMPONENT_MISSING' | 'ERR_SIGNATURE_COMPONENT_UNSUPPORTED') {
    super(code)
  }
}

/** What a signature base reads of a request: its method, the URL as the client sent it, its header fields. */
export type SignedRequest = { method: string; url: URL; headers: Headers }

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/

function derivedValue(name: string, request: SignedRequest): string | undefined {
  const { url } = request
  switch (name) {
    case '@method':
      return request.method
    case '@authority':
      // `URL` already lower-cases the host and drops a default port (RFC 9421 §2.2.3).
      return url.host
    case '@scheme':
      return url.protocol.slice(0, -1)
    case '@target-uri':
      return url.href
    case '@path':
      return url.pathname || '/'
    case '@query':
      return url.search || '?'
    case '@request-target':
      return (url.pathname || '/') + url.search
    default:
      return undefined
  }
}

/** The value of one covered component identifier, or a `SignatureBaseError`. */
export function componentValue(name: string, request: SignedRequest): string {
  if (name.startsWith('@')) {
    const value = derivedValue(name, request)
    if (value === undefined) throw new SignatureBaseError('ERR_SIGNATURE_COMPONENT_UNSUPPORTED')
    return value
  }
  if (!HEADER_NAME.test(name)) throw new SignatureBaseError('ERR_SIGNATURE_MALFORMED')
  const value = request.headers.get(name)
  if (value === null) throw new SignatureBaseError('ERR_SIGNATURE_COMPONENT_MISSING')
  return value.trim()
}

/** The covered component names of a signature's inner list; each a string item without parameters, none twice. */
export function coveredNames(list: InnerList): string[] {
  const names: string[] = []
  for (const item of list.items) {
    if (typeof item.value !== 'string') throw new SignatureBaseError('ERR_SIGNATURE_MALFORMED')
    if (item.params.size > 0) throw new SignatureBaseError('ERR_SIGNATURE_COMPONENT_UNSUPPORTED')
    if (names.includes(item.value)) throw new SignatureBaseError('ERR_SIGNATURE_MALFORMED')
    names.push(item.value)
  }
  return names
}

/** The signature base (RFC 9421 §2.5) for a signature's inner list over `request`. */
export function signatureBase(list: InnerList, request: SignedRequest): string {
  const lines = coveredNames(list).map((name) => `"${name}": ${componentValue(name, request)}`)
  lines.push(`"@signature-params": ${serializeInnerList(list)}`)
  return lines.join('\n')
}
