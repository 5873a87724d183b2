/**
 * @module
 * Reads one backend's body for an aggregation, in bounded memory: chunks are counted as they
 * stream and the read is cancelled the moment the cap is passed (a declared `Content-Length` over
 * the cap is refused before reading). The body is then JSON (an empty body is `null`), or a string
 * for a call declared `raw`. A body that isn't JSON (by its type or its text) is an error, and so is
 * one nested deeper than `MAX_BODY_DEPTH` (checked before anything recursive walks the value).
 * Numbers keep their exact value (`../core/exact-json`).
 */

import { isJsonType, readUpTo } from '../core/body'
import { parseJson } from '../core/exact-json'
import { MAX_BODY_DEPTH, textTooDeep } from '../core/json-depth'

export type BodyProblem = 'too-large' | 'not-json' | 'too-deep'

const PROBLEM_TEXT: Record<BodyProblem, string> = {
  'too-large': 'body over the size cap',
  'not-json': 'body is not JSON',
  'too-deep': `body nests deeper than ${MAX_BODY_DEPTH} levels`,
}

export class BodyError extends Error {
  constructor(readonly problem: BodyProblem) {
    super(PROBLEM_TEXT[problem])
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

/** JSON (an empty body is `null`), or a string when `raw`. Throws `BodyError('not-json' | 'too-deep')`. */
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
  let parsed
  try {
    parsed = parseJson(text, bytes, MAX_BODY_DEPTH)
  } catch {
    // Deep nesting that never closes (`[` x 1 MiB) is refused for its depth, not its syntax.
    throw new BodyError(textTooDeep(text, MAX_BODY_DEPTH) ? 'too-deep' : 'not-json')
  }
  if (parsed === 'too-deep') throw new BodyError('too-deep')
  return parsed.value
}
