/**
 * @module
 * Reads one backend's body for an aggregation, in bounded memory: chunks are counted as they
 * stream and the read is cancelled the moment the cap is passed (a declared `Content-Length` over
 * the cap is refused before reading). The body is then JSON (an empty body is `null`), or a string
 * for a call declared `raw`. A body that isn't JSON (by its type or its text) is an error.
 */

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

function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return true
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  return type === 'application/json' || type.endsWith('+json')
}

async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number, signal: AbortSignal): Promise<Uint8Array> {
  const reader = body.getReader()
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {})
  signal.addEventListener('abort', onAbort)
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      if (signal.aborted) throw signal.reason ?? new Error('aborted')
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) {
        await reader.cancel('over the size cap').catch(() => {})
        throw new BodyError('too-large')
      }
      chunks.push(value)
    }
    // A cancel on abort ends the stream quietly: that must not pass for a complete body.
    if (signal.aborted) throw signal.reason ?? new Error('aborted')
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
  const out = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** Reads and decodes a response body. Rejects with `BodyError`, or the signal's reason when aborted. */
export async function readBody(response: Response, options: ReadOptions): Promise<unknown> {
  const declared = Number(response.headers.get('content-length') ?? NaN)
  if (declared > options.maxBytes) {
    await response.body?.cancel().catch(() => {})
    throw new BodyError('too-large')
  }
  if (!options.raw && !isJsonType(response.headers.get('content-type'))) {
    await response.body?.cancel().catch(() => {})
    throw new BodyError('not-json')
  }
  const bytes = response.body ? await readCapped(response.body, options.maxBytes, options.signal) : new Uint8Array(0)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    if (options.raw) return new TextDecoder().decode(bytes)
    throw new BodyError('not-json')
  }
  if (options.raw) return text
  if (text.trim() === '') return null
  try {
    return JSON.parse(text)
  } catch {
    throw new BodyError('not-json')
  }
}
