/**
 * @module
 * What an aggregation keeps of a call's error answer (a 4xx or 5xx), when the route asks:
 * - `errors: "passthrough"`: the required call's status, `Content-Type`, `Retry-After` and body,
 *   to answer the client with as they are (KrakenD's `return_error_code`). A body over the call's
 *   `maxBodyBytes` is not cut (a cut body would say something the backend did not): the client
 *   then gets the usual problem.
 * - `errorDetails`: an excerpt of the body (1 KiB) for the call's entry in `errors`: the JSON
 *   value when the whole body fits and parses, else the text, cut at a character.
 * Reading is bounded by the call's own clock; a read that fails keeps nothing.
 */
import { readPrefix } from '../core/body'

/** How much of an error body `errorDetails` shows. */
export const EXCERPT_BYTES = 1024

/** What to keep of a call's error answer: compiled per call from the action's options. */
export type ErrorKeeping = { passthroughBytes?: number | undefined; details: boolean }

/** What was kept: `reply` for passthrough, `body` (and `bodyTruncated`) for the call's `errors` entry. */
export type KeptError = { body?: unknown; bodyTruncated?: true; reply?: Response }

/** Passthrough replies carry only these of the backend's headers: the body's type, and when to retry. */
const REPLY_HEADERS = ['content-type', 'retry-after']

/** The excerpt `errorDetails` shows: JSON when whole and valid, else text (a cut character dropped). */
function excerpt(bytes: Uint8Array, complete: boolean): KeptError {
  const text = new TextDecoder().decode(bytes, { stream: !complete })
  if (complete) {
    try {
      return { body: text.trim() === '' ? null : JSON.parse(text) }
    } catch {
      return { body: text }
    }
  }
  return { body: text, bodyTruncated: true }
}

/** Reads what `keeping` asks for of an error answer. Never rejects. */
export async function keepErrorAnswer(response: Response, keeping: ErrorKeeping, signal: AbortSignal): Promise<KeptError> {
  const max = Math.max(keeping.passthroughBytes ?? 0, keeping.details ? EXCERPT_BYTES : 0)
  if (!response.body || max === 0) return {}
  try {
    const { bytes, complete } = await readPrefix(response.body, max, signal)
    const kept: KeptError = keeping.details ? excerpt(bytes.subarray(0, EXCERPT_BYTES), complete && bytes.byteLength <= EXCERPT_BYTES) : {}
    if (keeping.passthroughBytes !== undefined && complete && response.status >= 400) {
      const headers = new Headers({ 'Cache-Control': 'no-store' })
      for (const name of REPLY_HEADERS) {
        const value = response.headers.get(name)
        if (value !== null) headers.set(name, value)
      }
      kept.reply = new Response(bytes, { status: response.status, headers })
    }
    return kept
  } catch {
    return {}
  }
}
