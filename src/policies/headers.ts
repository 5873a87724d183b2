/**
 * @module
 * `headers`: add, set or remove headers on the request to the origin and on the response to the
 * client. Values are templates (`{params.id}`, `{claims.sub}`, `{request.id}`); CR and LF are
 * replaced in rendered values so a template can't inject a header.
 *
 * @example
 * { "type": "headers", "request": { "set": { "X-User": "{claims.sub}" }, "remove": ["Cookie"] },
 *   "response": { "set": { "Cache-Control": "no-store" }, "remove": ["Server"] } }
 */
import * as v from 'valibot'
import { HeaderName, TemplateString } from '../config/common'
import { editResponseHeaders } from '../http'
import { checkTemplate, patternParams } from '../template/check'
import { REQUEST_TEMPLATE_ROOTS, requestScope } from '../template/scope'
import { compileTemplate, encodeHeaderValue, type Template } from '../template/template'
import { definePolicy } from './types'

const HeaderEdits = v.strictObject({
  set: v.optional(v.record(HeaderName, TemplateString)),
  add: v.optional(v.record(HeaderName, TemplateString)),
  remove: v.optional(v.array(HeaderName)),
})
type HeaderEditsConfig = v.InferOutput<typeof HeaderEdits>

type CompiledEdits = {
  remove: string[]
  set: [string, Template][]
  add: [string, Template][]
}

function compileEdits(edits: HeaderEditsConfig | undefined): CompiledEdits | undefined {
  if (!edits) return undefined
  const compile = (record: Record<string, string> | undefined) =>
    Object.entries(record ?? {}).map(([name, source]) => [name, compileTemplate(source)] as [string, Template])
  return { remove: edits.remove ?? [], set: compile(edits.set), add: compile(edits.add) }
}

function applyEdits(headers: Headers, edits: CompiledEdits, scope: unknown): void {
  for (const name of edits.remove) headers.delete(name)
  for (const [name, template] of edits.set) headers.set(name, encodeHeaderValue(template.render(scope)))
  for (const [name, template] of edits.add) headers.append(name, encodeHeaderValue(template.render(scope)))
}

export const headersPolicy = definePolicy({
  type: 'headers',
  phase: 'transform',
  schema: v.strictObject({
    type: v.literal('headers'),
    request: v.optional(HeaderEdits),
    response: v.optional(HeaderEdits),
  }),
  validate(options, ctx) {
    const params = ctx.route ? patternParams(ctx.route.match.path) : undefined
    for (const side of ['request', 'response'] as const) {
      for (const mode of ['set', 'add'] as const) {
        for (const [name, source] of Object.entries(options[side]?.[mode] ?? {})) {
          const problem = checkTemplate(source, REQUEST_TEMPLATE_ROOTS, params)
          if (problem) ctx.error(`.${side}.${mode}.${name}`, problem)
        }
      }
    }
  },
  create(options) {
    const request = compileEdits(options.request)
    const response = compileEdits(options.response)
    return async function headers(c, next) {
      const scope = requestScope(c)
      if (request) applyEdits(c.var.upstreamRequest.headers, request, scope)
      await next()
      if (response) editResponseHeaders(c, (headers) => applyEdits(headers, response, scope))
    }
  },
})
