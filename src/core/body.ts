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

/**
 * Small bodies the proxy read whole, by the response it made around them: a later reader of that
 * same response (the cache's store) takes the bytes rather than reading the stream again and
 * building another response for the client. Weak: an entry lives as long as its response; a new
 * response made from it (a policy's edit) has none, and its body is read as any other.
 */
const heldBodies = new WeakMap<Response, ArrayBuffer>()

/** `response`, noted as carrying exactly `bytes` (which nothing may change afterwards). */
export function withHeldBody(response: Response, bytes: ArrayBuffer): Response {
  heldBodies.set(response, bytes)
  return response
}

/** The bytes of a response made by `withHeldBody` whose body is still unread; undefined otherwise. */
export function heldBody(response: Response): ArrayBuffer | undefined {
  return response.bodyUsed ? undefined : heldBodies.get(response)
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
  const read = await readChunks(stream, max, signal)
  return read.complete ? concatChunks(read.chunks, read.size) : undefined
}

/**
 * The first `max` bytes of a stream, and whether that was all of it (the rest is cancelled): for
 * an excerpt of a body. A `signal` works as for `readUpTo`.
 */
export async function readPrefix(stream: ReadableStream<Uint8Array>, max: number, signal?: AbortSignal): Promise<{ bytes: Uint8Array; complete: boolean }> {
  const read = await readChunks(stream, max, signal)
  return { bytes: concatChunks(read.chunks, read.size), complete: read.complete }
}

/** Reads at most `max` bytes (the last chunk cut to fit), cancelling the stream when there is more. */
async function readChunks(stream: ReadableStream<Uint8Array>, max: number, signal?: AbortSignal): Promise<{ chunks: Uint8Array[]; size: number; complete: boolean }> {
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
      if (size + value.byteLength > max) {
        chunks.push(value.subarray(0, max - size))
        await reader.cancel('over the size cap').catch(() => {})
        return { chunks, size: max, complete: false }
      }
      size += value.byteLength
      chunks.push(value)
    }
    if (signal?.aborted) throw signal.reason ?? new Error('aborted')
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
  return { chunks, size, complete: true }
}

export type BoundedRead = { complete: true; bytes: Uint8Array } | { complete: false; stream: ReadableStream<Uint8Array> }

/**
 * Reads a stream until it ends or passes `max` bytes, never cancelling it: the whole body when it
 * ended within `max`, else a stream that replays what was read and then the rest, so a caller that
 * wanted the body whole only when it is small can still pass it on untouched.
 */
export async function readBounded(stream: ReadableStream<Uint8Array>, max: number): Promise<BoundedRead> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  // Bounded: every pass adds at least one byte or ends, and it stops once `max` is passed.
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return { complete: true, bytes: concatChunks(chunks, total) }
    chunks.push(value)
    total += value.byteLength
    if (total > max) break
  }
  let replay = 0
  return {
    complete: false,
    stream: new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (replay < chunks.length) {
          controller.enqueue(chunks[replay]!)
          chunks[replay++] = new Uint8Array(0)
          return
        }
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel(reason) {
        return reader.cancel(reason)
      },
    }),
  }
}
