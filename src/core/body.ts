/**
 * @module
 * Reading bodies in bounded memory: the one implementation behind JWKS and discovery fetches,
 * cache stores, aggregation calls and body transforms. A read never holds more than its cap.
 */

/** `application/json`, `application/problem+json`, `application/vnd.x+json`, with any parameters. */
export function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return false
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase()
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

export function concatChunks(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/**
 * Reads a whole stream, or returns undefined (the stream cancelled) as soon as it passes `max`
 * bytes. With a `signal`, an abort cancels the read and rejects with the signal's reason: a stream
 * that a cancel ended quietly must not pass for a complete body.
 */
export async function readUpTo(stream: ReadableStream<Uint8Array>, max: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
  const reader = stream.getReader()
  const onAbort = () => void reader.cancel(signal?.reason).catch(() => {})
  signal?.addEventListener('abort', onAbort)
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    // Bounded: every pass adds bytes towards the cap or ends the stream.
    for (;;) {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted')
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > max) {
        await reader.cancel('over the size cap').catch(() => {})
        return undefined
      }
      chunks.push(value)
    }
    if (signal?.aborted) throw signal.reason ?? new Error('aborted')
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return concatChunks(chunks, size)
}
