/**
 * @module
 * Reads one backend's body for an aggregation, in bounded memory: chunks are counted as they
 * stream and the read is cancelled the moment the cap is passed (a declared `Content-Length` over
 * the cap is refused before reading). The body is then JSON (an empty body is `null`), or a string
 * for a call declared `raw`. A body that isn't JSON (by its type or its text) is an error.
 */

import { isJsonType, readUpTo } from '../core/body'

export type BodyProblem = 'too-large' | 'not-json'

export class BodyError extends Error {
  constructor(readonly problem: BodyProblem) {
    super(problem === 'too-large' ? 'body over the size cap' : 'body is not JSON')
    this.name = 'BodyError'
  }
}

export type ReadOptions = {
  maxBytes: number
  raw: boolean
  /** Cancels the read (a call's timeout, the route's deadline); the read then rejects. */
  signal: AbortSignal
}

/**
 * Reads a response body's bytes under the cap, refusing a declared non-JSON type unless `raw`.
 * Rejects with `BodyError`, or the signal's reason when aborted.
 */
export async function readBytes(response: Response, options: ReadOptions): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (declared > options.maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw new BodyError('too-large')
  }
  const type = response.headers.get('content-type')
  // No Content-Type at all: the text decides (`decodeBody`).
  if (!options.raw && type !== null && !isJsonType(type)) {
    await response.body?.cancel().catch(() => {})
    throw new BodyError('not-json')
  }
  const bytes = response.body ? await readUpTo(response.body, options.maxBytes, options.signal) : new Uint8Array(0)
  if (!bytes) throw new BodyError('too-large')
  return bytes
}

/** JSON (an empty body is `null`), or a string when `raw`. Throws `BodyError('not-json')`. */
export function decodeBody(bytes: Uint8Array, raw: boolean): unknown {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    if (raw) return new TextDecoder().decode(bytes)
    throw new BodyError('not-json')
  }
  if (raw) return text
  if (text.trim() === '') return null
  try {
    return JSON.parse(text)
  } catch {
    throw new BodyError('not-json')
  }
}
