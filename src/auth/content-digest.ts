/**
 * @module
 * RFC 9530 `Content-Digest`: a dictionary of algorithm -> byte sequence. `sha-256` and `sha-512`
 * are checked; other algorithms are ignored, as §2 allows, but at least one known one must be
 * there. Every known digest given must match the body: one wrong digest beside a right one is an
 * altered body, not a choice.
 */
import { isInnerList, parseDictionary, StructuredFieldError } from './structured-fields'

const ALGORITHMS: Record<string, string> = { 'sha-256': 'SHA-256', 'sha-512': 'SHA-512' }

/** Why `header` does not describe `body` (a log code), or undefined when it does. */
export async function contentDigestProblem(header: string | null, body: Uint8Array): Promise<string | undefined> {
  if (header === null) return 'ERR_CONTENT_DIGEST_MISSING'
  let digests
  try {
    digests = parseDictionary(header)
  } catch (err) {
    if (err instanceof StructuredFieldError) return 'ERR_CONTENT_DIGEST_MALFORMED'
    throw err
  }
  let checked = 0
  for (const [name, member] of digests) {
    const algorithm = ALGORITHMS[name]
    if (algorithm === undefined) continue
    if (isInnerList(member) || !(member.value instanceof Uint8Array)) return 'ERR_CONTENT_DIGEST_MALFORMED'
    const actual = new Uint8Array(await crypto.subtle.digest(algorithm, body))
    // Digests of a body the client sent are no secret: a plain comparison is fine.
    if (actual.length !== member.value.length || actual.some((byte, i) => byte !== (member.value as Uint8Array)[i])) return 'ERR_CONTENT_DIGEST_MISMATCH'
    checked++
  }
  return checked === 0 ? 'ERR_CONTENT_DIGEST_UNSUPPORTED' : undefined
}
