/**
 * @module
 * Reading a body for a transform without ever holding more than a set number of bytes: a body
 * that turns out bigger is handed back as a stream that replays what was read and then the rest,
 * so it can still go through untouched.
 */

import { GatewayError } from '../core/errors'
import { MAX_BODY_DEPTH, tooDeepAt } from '../core/json-depth'

export { isJsonType, readBounded, type BoundedRead } from '../core/body'

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
