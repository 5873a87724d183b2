/**
 * @module
 * `request-limits`: refuses requests that are too big or malformed before they cost anything.
 * Checked in this order: URL length (414), method (405 with `Allow`), header count and sizes
 * (431), required headers (400), body size (413).
 *
 * The body limit trusts a `Content-Length` (the runtime never delivers more than it declares);
 * without one (chunked uploads) the body is counted as it streams to the origin, never buffered,
 * and the request fails with 413 as soon as it passes the limit.
 * Sizes are bytes: a header's size is its name plus its value; the URL's is the request target
 * (path and query). Headers are counted as the runtime presents them, including any Cloudflare
 * adds at the edge (`CF-Connecting-IP`, `CF-Ray`, `X-Forwarded-For`...): leave room for those.
 *
 * @example
 * { "type": "request-limits", "maxBodyBytes": 1048576, "maxUrlLength": 2048, "methods": ["GET", "POST"],
 *   "headers": { "maxCount": 50, "maxTotalBytes": 16384, "maxFieldBytes": 8192 }, "requiredHeaders": ["X-Client"] }
 */
import * as v from 'valibot'
import { HeaderName } from '../core/schema'
import { GatewayError } from '../core/errors'
import { HTTP_METHODS } from '../routing/methods'
import { definePolicy } from '../core/policy'

const Count = v.pipe(v.number(), v.integer(), v.minValue(1))

const payloadTooLarge = (limit: number) =>
  new GatewayError('ERR_PAYLOAD_TOO_LARGE', { detail: `The request body is larger than ${limit} bytes.`, extensions: { limit } })

/** Passes a body through, failing it once more than `limit` bytes have gone by. */
function limitStream(body: ReadableStream<Uint8Array>, limit: number, onExceeded: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let seen = 0
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) return controller.close()
      seen += value.byteLength
      if (seen > limit) {
        onExceeded()
        reader.cancel().catch(() => {})
        return controller.error(payloadTooLarge(limit))
      }
      controller.enqueue(value)
    },
    cancel(reason) {
      return reader.cancel(reason)
    },
  })
}

export const requestLimitsPolicy = definePolicy({
  type: 'request-limits',
  phase: 'request',
  schema: v.strictObject({
    type: v.literal('request-limits'),
    maxBodyBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))), v.description(SCHEMA_DOCS ? 'Largest request body (413 above).' : '')),
    maxUrlLength: v.pipe(v.optional(Count), v.description(SCHEMA_DOCS ? 'Longest path + query in bytes (414 above).' : '')),
    methods: v.pipe(v.optional(v.pipe(v.array(v.picklist(HTTP_METHODS)), v.minLength(1))), v.description(SCHEMA_DOCS ? 'Allowed methods (405 for others).' : '')),
    headers: v.optional(
      v.strictObject({
        maxCount: v.pipe(v.optional(Count), v.description(SCHEMA_DOCS ? 'Most header fields (431 above).' : '')),
        maxTotalBytes: v.pipe(v.optional(Count), v.description(SCHEMA_DOCS ? 'Largest sum of names and values (431 above).' : '')),
        maxFieldBytes: v.pipe(v.optional(Count), v.description(SCHEMA_DOCS ? 'Largest single header, name plus value (431 above).' : '')),
      }),
    ),
    requiredHeaders: v.pipe(v.optional(v.array(HeaderName)), v.description(SCHEMA_DOCS ? 'Headers every request must carry (400 without).' : '')),
  }),
  check(options, ctx) {
    const set = [options.maxBodyBytes, options.maxUrlLength, options.methods, options.headers?.maxCount, options.headers?.maxTotalBytes, options.headers?.maxFieldBytes, options.requiredHeaders?.length || undefined]
    if (set.every((x) => x === undefined)) ctx.error('', 'set at least one limit')
    const h = options.headers
    if (h?.maxFieldBytes !== undefined && h.maxTotalBytes !== undefined && h.maxFieldBytes > h.maxTotalBytes) {
      ctx.error('.headers.maxFieldBytes', `${h.maxFieldBytes} is larger than headers.maxTotalBytes (${h.maxTotalBytes})`)
    }
  },
  create(options) {
    const { maxBodyBytes, maxUrlLength, requiredHeaders = [] } = options
    const { maxCount, maxTotalBytes, maxFieldBytes } = options.headers ?? {}
    const checkHeaders = maxCount !== undefined || maxTotalBytes !== undefined || maxFieldBytes !== undefined
    // A route with GET also answers HEAD; so does this list.
    const methods = options.methods && new Set<string>(options.methods.includes('GET') ? [...options.methods, 'HEAD'] : options.methods)
    const allow = methods && [...methods].join(', ')

    return async function requestLimits(c, next) {
      if (maxUrlLength !== undefined) {
        const target = c.req.url.length - c.get('url').origin.length
        if (target > maxUrlLength) {
          throw new GatewayError('ERR_URI_TOO_LONG', { detail: `The URL is longer than ${maxUrlLength} bytes.`, extensions: { limit: maxUrlLength } })
        }
      }
      if (methods && !methods.has(c.req.method)) {
        throw new GatewayError('ERR_METHOD_NOT_ALLOWED', { detail: `${c.req.method} is not allowed here.`, headers: { Allow: allow! } })
      }
      if (checkHeaders) {
        let count = 0
        let total = 0
        for (const [name, value] of c.req.raw.headers) {
          const size = name.length + value.length
          count++
          total += size
          if (maxFieldBytes !== undefined && size > maxFieldBytes) {
            throw new GatewayError('ERR_HEADERS_TOO_LARGE', { detail: `A header is larger than ${maxFieldBytes} bytes.`, extensions: { header: name, limit: maxFieldBytes } })
          }
        }
        if (maxCount !== undefined && count > maxCount) {
          throw new GatewayError('ERR_HEADERS_TOO_LARGE', { detail: `The request has more than ${maxCount} headers.`, extensions: { limit: maxCount } })
        }
        if (maxTotalBytes !== undefined && total > maxTotalBytes) {
          throw new GatewayError('ERR_HEADERS_TOO_LARGE', { detail: `The request headers are larger than ${maxTotalBytes} bytes in all.`, extensions: { limit: maxTotalBytes } })
        }
      }
      for (const name of requiredHeaders) {
        if (!c.req.raw.headers.has(name)) throw new GatewayError('ERR_BAD_REQUEST', { detail: `The request must carry a "${name}" header.` })
      }
      let exceeded = false
      if (maxBodyBytes !== undefined) {
        const declared = c.req.header('content-length')
        if (declared !== undefined && Number(declared) > maxBodyBytes) throw payloadTooLarge(maxBodyBytes)
        const draft = c.get('upstreamRequest')
        const body = draft.body !== undefined ? draft.body : c.req.raw.body
        if (declared === undefined && body instanceof ReadableStream) {
          draft.body = limitStream(body, maxBodyBytes, () => (exceeded = true))
        }
      }
      await next()
      // The cut-off stream failed the upstream call (a 502 by then); say what really happened.
      if (exceeded) throw payloadTooLarge(maxBodyBytes!)
    }
  },
})
