/**
 * @module
 * Reading a body for a transform without ever holding more than a set number of bytes: a body
 * that turns out bigger is handed back as a stream that replays what was read and then the rest,
 * so it can still go through untouched.
 */

import { concatChunks } from '../core/body'
import { GatewayError } from '../core/errors'
import { MAX_BODY_DEPTH, tooDeepAt } from '../core/json-depth'

export { isJsonType } from '../core/body'

export type BoundedRead = { complete: true; bytes: Uint8Array } | { complete: false; stream: ReadableStream<Uint8Array> }

/** Reads at most `max` bytes; past that, returns a stream of the whole body instead. */
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

/** Any body value as a stream of bytes (or null). */
export function toStream(body: ReadableStream | ArrayBuffer | Uint8Array | string | null): ReadableStream<Uint8Array> | null {
  if (body === null || body instanceof ReadableStream) return body
  return new Response(body).body
}

/**
 * Refuses (400) a parsed JSON request body that nests deeper than `MAX_BODY_DEPTH`, before edits,
 * schema validation or `JSON.stringify` recurse through it and overflow the stack.
 */
export function refuseTooDeep(value: unknown): void {
  const path = tooDeepAt(value, MAX_BODY_DEPTH)
  if (path === undefined) return
  throw new GatewayError('ERR_BAD_REQUEST', {
    detail: `The JSON body nests deeper than ${MAX_BODY_DEPTH} levels of objects and arrays.`,
    extensions: { errors: [{ in: 'body', path: `/${path.slice(0, 8).join('/')}${path.length > 8 ? '/...' : ''}`, message: `nested deeper than ${MAX_BODY_DEPTH} levels` }] },
  })
}
