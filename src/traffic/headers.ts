/**
 * @module
 * `headers`: rename, remove, set or add headers on the request to the origin and on the response
 * to the client (the edits themselves live in `./header-edits`, shared with `transform`).
 * Values are templates (`{params.id}`, `{claims.sub}`, `{request.id}`); a rendered value holding
 * anything but visible ASCII, space and tab is refused (400), so a template can't inject a header.
 *
 * @example
 * { "type": "headers", "request": { "set": { "X-User": "{claims.sub}" }, "remove": ["Cookie"] },
 *   "response": { "set": { "Cache-Control": "no-store" }, "remove": ["Server"] } }
 */
import * as v from 'valibot'
import { editResponseHeaders } from '../core/http'
import { patternParams } from '../template/check'
import { REQUEST_TEMPLATE_ROOTS, requestScope } from '../template/scope'
import { applyHeaderEdits, checkHeaderEdits, compileHeaderEdits, HeaderEditsSchema } from './header-edits'
import { definePolicy } from '../core/policy'

export const headersPolicy = definePolicy({
  type: 'headers',
  phase: 'transform',
  schema: v.strictObject({
    type: v.literal('headers'),
    request: v.optional(HeaderEditsSchema),
    response: v.optional(HeaderEditsSchema),
  }),
  check(options, ctx) {
    const params = ctx.route ? patternParams(ctx.route.match.path) : undefined
    for (const side of ['request', 'response'] as const) {
      checkHeaderEdits(options[side], `.${side}`, REQUEST_TEMPLATE_ROOTS, params, ctx.error)
    }
  },
  create(options) {
    const request = compileHeaderEdits(options.request)
    const response = compileHeaderEdits(options.response)
    return async function headers(c, next) {
      const scope = request || response ? requestScope(c) : undefined
      if (request) applyHeaderEdits(c.get('upstreamRequest').headers, request, scope)
      await next()
      if (response) editResponseHeaders(c, (headers) => applyHeaderEdits(headers, response, scope))
    }
  },
})
