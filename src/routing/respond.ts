/**
 * @module
 * The `respond` action (a fixed response: status, headers, a text or JSON body, all templated)
 * and the `redirect` action (status and a `Location` template).
 */
import type { Handler } from 'hono'
import * as v from 'valibot'
import type { AppEnv } from '../core/context'
import { HeaderName } from '../core/schema'
import { requestScope } from '../template/scope'
import { HeaderTemplateString, TemplateString } from '../template/schema'
import { compileJsonTemplate, compileTemplate, encodeForPath, checkHeaderValue } from '../template/template'

export const RespondActionSchema = v.strictObject({
  type: v.literal('respond'),
  status: v.optional(v.pipe(v.number(), v.integer(), v.minValue(200), v.maxValue(599)), 200),
  headers: v.optional(v.record(HeaderName, HeaderTemplateString), {}),
  body: v.pipe(v.optional(v.unknown()), v.description(SCHEMA_DOCS ? 'A string (a template) or any JSON value (sent as JSON).' : '')),
})

export const RedirectActionSchema = v.strictObject({
  type: v.literal('redirect'),
  status: v.optional(v.picklist([301, 302, 303, 307, 308]), 302),
  location: TemplateString,
})

type RespondActionConfig = v.InferOutput<typeof RespondActionSchema>
type RedirectActionConfig = v.InferOutput<typeof RedirectActionSchema>

export function respondAction(action: RespondActionConfig): Handler<AppEnv> {
  const headers = Object.entries(action.headers).map(([name, source]) => [name, compileTemplate(source)] as const)
  const isText = typeof action.body === 'string'
  const text = isText ? compileTemplate(action.body as string) : undefined
  const json = !isText && action.body !== undefined ? compileJsonTemplate(action.body) : undefined
  const defaultType = isText ? 'text/plain; charset=utf-8' : 'application/json'
  const bodyless = action.status === 204 || action.status === 304
  return function respond(c) {
    const scope = requestScope(c)
    const out = new Headers()
    for (const [name, template] of headers) out.set(name, checkHeaderValue(template.render(scope)))
    let body: string | null = null
    if (!bodyless && text) body = text.render(scope)
    else if (!bodyless && json) body = JSON.stringify(json.render(scope))
    if (body !== null && !out.has('content-type')) out.set('Content-Type', defaultType)
    return new Response(c.req.method === 'HEAD' ? null : body, { status: action.status, headers: out })
  }
}

export function redirectAction(action: RedirectActionConfig): Handler<AppEnv> {
  const location = compileTemplate(action.location)
  return function redirect(c) {
    const target = location.render(requestScope(c), encodeForPath)
    return new Response(null, { status: action.status, headers: { Location: target } })
  }
}
