/**
 * @module
 * `validate`: checks a request's JSON body, query and headers against JSON Schemas (2020-12) from
 * the config, and answers 400 problem+json listing every failing value:
 * `errors: [{ "in": "body", "path": "/items/0/qty", "message": "..." }]`.
 *
 * Phase `transform`: it runs after authentication and rate limiting, so anonymous callers can
 * neither probe the schemas nor make the gateway parse bodies for free, and invalid requests still
 * count against limits. Within the phase it runs in config order: list it before a `transform`
 * to check what the client sent, after one to check what the origin will receive.
 *
 * The body is read at most `maxBodyBytes` (413 past it, before any parsing) and handed on to the
 * upstream byte for byte. Query values are strings on the wire: those whose schema says number,
 * integer or boolean are converted first (`?limit=5` is 5); a parameter whose schema is an array
 * gets all its values. Header names are compared in lower case; only the headers the schema names
 * are checked. With `validateResponses` (for development), JSON responses are checked against
 * `responses[status]` (or `responses.default`): failures are logged (`responseInvalid` in the
 * request's log line), never sent.
 *
 * @example
 * { "type": "validate", "body": { "type": "object", "required": ["items"], "properties": { "items": { "type": "array" } } },
 *   "query": { "type": "object", "properties": { "limit": { "type": "integer", "maximum": 100 } } } }
 */
import type { Validator } from '@cfworker/json-schema'
import type { Context } from 'hono'
import * as v from 'valibot'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { isJsonType, readBounded, refuseTooDeep } from './bounded-body'
import { checkJsonSchema, issuesOf, lazyValidator, MAX_ISSUES, type JsonSchema, type ValidationIssue } from './json-schema'
import { definePolicy } from '../core/policy'

const Schema = v.pipe(
  v.custom<JsonSchema>((x) => typeof x === 'boolean' || (typeof x === 'object' && x !== null && !Array.isArray(x)), 'must be a JSON Schema (an object or a boolean)'),
  v.description(SCHEMA_DOCS ? 'A JSON Schema (draft 2020-12).' : ''),
)

const tooLarge = (limit: number) =>
  new GatewayError('ERR_PAYLOAD_TOO_LARGE', { detail: `The request body is larger than ${limit} bytes.`, extensions: { limit } })

function invalid(issues: ValidationIssue[]): GatewayError {
  const shown = issues.slice(0, MAX_ISSUES)
  return new GatewayError('ERR_BAD_REQUEST', {
    detail: `The request does not match the API's schema (${issues.length} problem${issues.length === 1 ? '' : 's'}).`,
    extensions: { errors: shown, ...(issues.length > shown.length && { moreErrors: issues.length - shown.length }) },
  })
}

type Coerce = (value: string) => unknown

function coercer(schema: unknown): Coerce {
  const types = [(schema as { type?: unknown } | null)?.type ?? []].flat()
  return (value) => {
    if ((types.includes('integer') || types.includes('number')) && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value)
    if (types.includes('boolean') && (value === 'true' || value === 'false')) return value === 'true'
    return value
  }
}

/** Builds the object a query or headers schema is checked against, from the wire's strings. */
function readerFor(schema: JsonSchema, lowerCase: boolean) {
  const properties = typeof schema === 'object' ? ((schema.properties ?? {}) as Record<string, { type?: unknown; items?: unknown }>) : {}
  const fields = new Map(
    Object.entries(properties).map(([name, prop]) => {
      const isArray = [prop?.type ?? []].flat().includes('array')
      return [lowerCase ? name.toLowerCase() : name, { isArray, coerce: coercer(isArray ? prop.items : prop), name }] as const
    }),
  )
  return (entries: Iterable<[string, string]>, only: boolean) => {
    const out: Record<string, unknown> = {}
    for (const [key, value] of entries) {
      const field = fields.get(key)
      if (!field && only) continue
      const name = field?.name ?? key
      const coerced = field ? field.coerce(value) : value
      if (field?.isArray) ((out[name] ??= []) as unknown[]).push(coerced)
      else if (!(name in out)) out[name] = coerced
    }
    return out
  }
}

const NO_BODY = new Set(['GET', 'HEAD', 'OPTIONS'])

export const validatePolicy = definePolicy({
  type: 'validate',
  phase: 'transform',
  schema: v.strictObject({
    type: v.literal('validate'),
    body: v.pipe(v.optional(Schema), v.description(SCHEMA_DOCS ? 'Schema of the JSON request body (required on methods other than GET, HEAD, OPTIONS).' : '')),
    query: v.pipe(v.optional(Schema), v.description(SCHEMA_DOCS ? 'Schema of the query parameters, as an object.' : '')),
    headers: v.pipe(v.optional(Schema), v.description(SCHEMA_DOCS ? 'Schema of the request headers it names, as an object with lower-case keys.' : '')),
    maxBodyBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16 * 1024 * 1024)), 1_048_576), v.description(SCHEMA_DOCS ? 'Largest body read for validation (413 above).' : '')),
    responses: v.pipe(v.optional(v.record(v.pipe(v.string(), v.regex(/^([1-5]\d\d|default)$/, 'must be a status code or "default"')), Schema)), v.description(SCHEMA_DOCS ? 'Response body schemas by status (documented; checked with `validateResponses`).' : '')),
    validateResponses: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Development aid: log responses that do not match `responses`.' : '')),
  }),
  check(options, ctx) {
    if (options.body === undefined && options.query === undefined && options.headers === undefined && options.responses === undefined) {
      ctx.error('', 'set at least one of "body", "query", "headers" or "responses"')
    }
    for (const part of ['body', 'query', 'headers'] as const) {
      if (options[part] !== undefined) checkJsonSchema(options[part], `.${part}`, ctx.error)
    }
    for (const [status, schema] of Object.entries(options.responses ?? {})) checkJsonSchema(schema, `.responses["${status}"]`, ctx.error)
    if (options.validateResponses && options.responses === undefined) ctx.error('.validateResponses', 'needs "responses" to check against')
  },
  create(options) {
    const { maxBodyBytes, validateResponses } = options
    const body = options.body !== undefined ? lazyValidator(options.body) : undefined
    const query = options.query !== undefined ? { validator: lazyValidator(options.query), read: readerFor(options.query, false) } : undefined
    const headers = options.headers !== undefined ? { validator: lazyValidator(options.headers), read: readerFor(options.headers, true) } : undefined
    const responses = new Map(Object.entries(options.responses ?? {}).map(([status, schema]) => [status, lazyValidator(schema)]))

    return async function validate(c, next) {
      const issues: ValidationIssue[] = []
      if (query) issues.push(...issuesOf(await query.validator(), query.read(c.get('url').searchParams, false), 'query'))
      if (headers) issues.push(...issuesOf(await headers.validator(), headers.read(c.req.raw.headers, true), 'headers'))
      if (body && !NO_BODY.has(c.req.method)) {
        const draft = c.get('upstreamRequest')
        if (Number(c.req.header('content-length') ?? 0) > maxBodyBytes) throw tooLarge(maxBodyBytes)
        const stream = draft.body !== undefined ? new Response(draft.body).body : c.req.raw.body
        if (stream === null) throw new GatewayError('ERR_BAD_REQUEST', { detail: 'This request needs a JSON body.' })
        if (!isJsonType(draft.headers.get('content-type'))) {
          throw new GatewayError('ERR_UNSUPPORTED_MEDIA_TYPE', { detail: 'The body must be JSON (Content-Type: application/json).' })
        }
        const read = await readBounded(stream, maxBodyBytes)
        if (!read.complete) {
          await read.stream.cancel().catch(() => {})
          throw tooLarge(maxBodyBytes)
        }
        draft.body = read.bytes.buffer as ArrayBuffer
        let value: unknown
        try {
          value = JSON.parse(new TextDecoder().decode(read.bytes))
        } catch (err) {
          throw new GatewayError('ERR_BAD_REQUEST', { detail: 'The body is not valid JSON.', extensions: { errors: [{ in: 'body', path: '', message: (err as Error).message }] } })
        }
        refuseTooDeep(value)
        issues.push(...issuesOf(await body(), value, 'body'))
      }
      if (issues.length > 0) throw invalid(issues)
      await next()
      if (validateResponses) await checkResponse(c, responses, maxBodyBytes)
    }
  },
})

/** Development aid: validates a JSON response against its schema and logs what fails. */
async function checkResponse(c: Context<AppEnv>, responses: Map<string, () => Promise<Validator>>, max: number) {
  const res = c.res
  const schema = responses.get(String(res.status)) ?? responses.get('default')
  if (!schema || !res.body || !isJsonType(res.headers.get('content-type'))) return
  const [keep, check] = res.body.tee()
  c.res = undefined
  c.res = new Response(keep, res)
  const read = await readBounded(check, max)
  if (!read.complete) return void read.stream.cancel().catch(() => {})
  let issues: ValidationIssue[]
  try {
    issues = issuesOf(await schema(), JSON.parse(new TextDecoder().decode(read.bytes)), 'response')
  } catch (err) {
    issues = [{ in: 'response', path: '', message: `not valid JSON: ${(err as Error).message}` }]
  }
  if (issues.length > 0) c.get('log').responseInvalid = issues.slice(0, MAX_ISSUES)
}
