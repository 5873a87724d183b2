/**
 * @module
 * `transform`: edits the request on its way to the origin and the response on its way back.
 *
 *   request:  headers (rename/remove/set/add), query (same), path (a rewrite template, rendered as
 *             the proxy action renders its own), body (JSON edits, see `./json-edits`)
 *   response: body (JSON edits), status (code mapping), headers
 *
 * Bodies are edited only when JSON (`application/json` or `+json`), not content-encoded (request
 * side) and at most `maxBodyBytes`; any other body streams through untouched, except that an
 * oversized JSON request body is refused with 413 when `oversizedRequest` is `reject`. A JSON
 * content type with a body that doesn't parse is passed through too. Response edits skip the
 * gateway's own error responses (problem+json), whose status and body must stay truthful.
 *
 * @example
 * { "type": "transform",
 *   "request": { "query": { "rename": { "q": "search" } }, "body": { "set": { "meta.user": "{claims.sub}" } } },
 *   "response": { "body": { "unwrap": "data" }, "status": { "404": 200 } } }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import { rewritePath } from '../upstream/proxy-action'
import { TemplateString } from '../template/schema'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { editResponseHeaders } from '../core/http'
import { checkTemplate, patternParams } from '../template/check'
import { REQUEST_TEMPLATE_ROOTS, requestScope } from '../template/scope'
import { compileTemplate } from '../template/template'
import { isJsonType, readBounded, refuseTooDeep, toStream } from './bounded-body'
import { MAX_BODY_DEPTH, tooDeepAt } from '../core/json-depth'
import { applyHeaderEdits, checkHeaderEdits, compileHeaderEdits, HeaderEditsSchema } from './header-edits'
import { applyJsonEdits, checkJsonEdits, compileJsonEdits, JsonEditsSchema, type CompiledJsonEdits } from './json-edits'
import { applyQueryEdits, checkQueryEdits, compileQueryEdits, QueryEditsSchema } from './query-edits'
import { definePolicy } from '../core/policy'

const StatusCode = v.pipe(v.number(), v.integer(), v.minValue(200, 'must be 200-599'), v.maxValue(599, 'must be 200-599'))
const StatusKey = v.pipe(v.string(), v.regex(/^[1-5]\d\d$/, 'must be a status code ("404")'))
const NULL_BODY = new Set([204, 205, 304])

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Parses, edits and re-serialises a JSON body; undefined when it isn't valid JSON. A body nested
 * deeper than `MAX_BODY_DEPTH` is refused (400) on the request side and left as it is on the
 * response side (`side`).
 */
function editJson(bytes: Uint8Array, edits: CompiledJsonEdits, scope: Record<string, unknown>, side: 'request' | 'response'): string | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(decoder.decode(bytes))
  } catch {
    return undefined
  }
  if (side === 'request') refuseTooDeep(parsed)
  else if (tooDeepAt(parsed, MAX_BODY_DEPTH)) return undefined
  return JSON.stringify(applyJsonEdits(parsed, edits, scope)) ?? 'null'
}

function replaceResponse(c: Context<AppEnv>, res: Response): void {
  // Assigning over an existing `c.res` would merge its headers back in.
  c.res = undefined
  c.res = res
}

/** How large a body is edited, and what happens to a JSON request body over that. */
type BodyLimits = { maxBodyBytes: number; oversizedRequest: 'pass' | 'reject' }

/** The response side's body edits and status mapping. */
type ResponseEdits = { body: CompiledJsonEdits | undefined; statusMap: Map<number, number> }

function tooLarge(maxBodyBytes: number): GatewayError {
  return new GatewayError('ERR_PAYLOAD_TOO_LARGE', {
    detail: `The JSON request body is larger than the ${maxBodyBytes} bytes this route transforms.`,
    extensions: { limit: maxBodyBytes },
  })
}

/** Edits the upstream request's body when it is uncompressed JSON within the limit. */
async function editRequestBody(c: Context<AppEnv>, edits: CompiledJsonEdits, scope: Record<string, unknown>, { maxBodyBytes, oversizedRequest }: BodyLimits) {
  const draft = c.get('upstreamRequest')
  if (draft.method === 'GET' || draft.method === 'HEAD') return
  const encoding = draft.headers.get('content-encoding')
  if (!isJsonType(draft.headers.get('content-type')) || (encoding !== null && encoding !== 'identity')) return
  const stream = toStream(draft.body !== undefined ? draft.body : c.req.raw.body)
  if (stream === null) return
  const declared = Number(draft.headers.get('content-length') ?? NaN)
  if (declared > maxBodyBytes) {
    if (oversizedRequest === 'reject') throw tooLarge(maxBodyBytes)
    return
  }
  const read = await readBounded(stream, maxBodyBytes)
  if (!read.complete) {
    if (oversizedRequest === 'reject') throw tooLarge(maxBodyBytes)
    draft.body = read.stream
    return
  }
  const edited = editJson(read.bytes, edits, scope, 'request')
  draft.body = edited ?? (read.bytes.buffer as ArrayBuffer)
  if (edited !== undefined) draft.headers.set('content-length', String(encoder.encode(edited).byteLength))
}

/** The response with its JSON body edited, when it is JSON within the limit; else `res` itself. */
async function editResponseBody(res: Response, edits: CompiledJsonEdits, scope: Record<string, unknown>, maxBodyBytes: number): Promise<Response> {
  if (!res.body || !isJsonType(res.headers.get('content-type'))) return res
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > maxBodyBytes) return res
  const read = await readBounded(res.body, maxBodyBytes)
  let body: BodyInit = read.complete ? read.bytes : read.stream
  const headers = new Headers(res.headers)
  const edited = read.complete ? editJson(read.bytes, edits, scope, 'response') : undefined
  if (edited !== undefined) {
    body = edited
    // The origin's validators and length describe the body it sent, not this one.
    headers.delete('content-length')
    headers.delete('etag')
    headers.delete('content-md5')
  }
  return new Response(body, { status: res.status, statusText: res.statusText, headers })
}

/** The response under its mapped status, without a body where that status allows none; else `res` itself. */
function mapStatus(res: Response, statusMap: Map<number, number>): Response {
  const mapped = statusMap.get(res.status)
  if (mapped === undefined) return res
  const body = NULL_BODY.has(mapped) ? null : res.body
  const headers = new Headers(res.headers)
  if (body === null) headers.delete('content-length')
  return new Response(body, { status: mapped, headers })
}

async function editResponse(c: Context<AppEnv>, scope: Record<string, unknown>, edits: ResponseEdits, maxBodyBytes: number) {
  let res = c.res
  if (edits.body) res = await editResponseBody(res, edits.body, scope, maxBodyBytes)
  res = mapStatus(res, edits.statusMap)
  if (res !== c.res) replaceResponse(c, res)
}

export const transformPolicy = definePolicy({
  type: 'transform',
  phase: 'transform',
  schema: v.strictObject({
    type: v.literal('transform'),
    request: v.optional(
      v.strictObject({
        headers: v.optional(HeaderEditsSchema),
        query: v.optional(QueryEditsSchema),
        path: v.pipe(v.optional(TemplateString), v.description(SCHEMA_DOCS ? 'Rewrite template for the upstream path (before the action\'s own).' : '')),
        body: v.optional(JsonEditsSchema),
      }),
    ),
    response: v.optional(
      v.strictObject({
        headers: v.optional(HeaderEditsSchema),
        body: v.optional(JsonEditsSchema),
        status: v.pipe(v.optional(v.record(StatusKey, StatusCode)), v.description(SCHEMA_DOCS ? 'Origin status -> status sent to the client.' : '')),
      }),
    ),
    maxBodyBytes: v.pipe(
      v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16 * 1024 * 1024)), 1024 * 1024),
      v.description(SCHEMA_DOCS ? 'Largest body (bytes) edited; bigger ones stream through untouched.' : ''),
    ),
    oversizedRequest: v.pipe(
      v.optional(v.picklist(['pass', 'reject']), 'pass'),
      v.description(SCHEMA_DOCS ? 'A JSON request body over maxBodyBytes: pass it untouched, or reject it with 413.' : ''),
    ),
  }),
  check(options, ctx) {
    const params = ctx.route ? patternParams(ctx.route.match.path) : undefined
    const roots = REQUEST_TEMPLATE_ROOTS
    checkHeaderEdits(options.request?.headers, '.request.headers', roots, params, ctx.error)
    checkHeaderEdits(options.response?.headers, '.response.headers', roots, params, ctx.error)
    checkQueryEdits(options.request?.query, '.request.query', roots, params, ctx.error)
    if (options.request?.path !== undefined) {
      const problem = checkTemplate(options.request.path, roots, params)
      if (problem) ctx.error('.request.path', problem)
    }
    checkJsonEdits(options.request?.body, '.request.body', roots, params, ctx.error)
    checkJsonEdits(options.response?.body, '.response.body', roots, params, ctx.error)
  },
  create(options) {
    const { maxBodyBytes, oversizedRequest } = options
    const requestHeaders = compileHeaderEdits(options.request?.headers)
    const query = compileQueryEdits(options.request?.query)
    const path = options.request?.path !== undefined ? compileTemplate(options.request.path) : undefined
    const requestBody = options.request?.body ? compileJsonEdits(options.request.body) : undefined
    const responseHeaders = compileHeaderEdits(options.response?.headers)
    const responseBody = options.response?.body ? compileJsonEdits(options.response.body) : undefined
    const statusMap = new Map(Object.entries(options.response?.status ?? {}).map(([from, to]) => [Number(from), to]))

    const limits: BodyLimits = { maxBodyBytes, oversizedRequest }
    const responseEdits: ResponseEdits = { body: responseBody, statusMap }

    return async function transform(c, next) {
      const draft = c.get('upstreamRequest')
      const scope = requestScope(c)
      if (requestHeaders) applyHeaderEdits(draft.headers, requestHeaders, scope)
      if (query) draft.search = applyQueryEdits(draft.search, query, scope)
      if (path) draft.path = rewritePath(path, c)
      if (requestBody) await editRequestBody(c, requestBody, scope, limits)
      await next()
      // The gateway's own errors (problem+json) keep their status and body.
      if (c.get('log').error === undefined && (responseBody || statusMap.size > 0)) await editResponse(c, scope, responseEdits, maxBodyBytes)
      if (responseHeaders) editResponseHeaders(c, (headers) => applyHeaderEdits(headers, responseHeaders, scope))
    }
  },
})
