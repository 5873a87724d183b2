/**
 * @module
 * The `respond` action (a fixed response: status, headers, a text or JSON body, all templated)
 * and the `redirect` action (status and a `Location` template).
 */
import type { Handler } from 'hono'
import type { ActionConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import { requestScope } from '../template/scope'
import { compileJsonTemplate, compileTemplate, encodeForPath, encodeHeaderValue } from '../template/template'

type RespondActionConfig = Extract<ActionConfig, { type: 'respond' }>
type RedirectActionConfig = Extract<ActionConfig, { type: 'redirect' }>

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
    for (const [name, template] of headers) out.set(name, encodeHeaderValue(template.render(scope)))
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
