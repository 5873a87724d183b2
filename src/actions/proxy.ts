/**
 * @module
 * The `proxy` action: forwards the request to a named upstream, with an optional strip-prefix
 * and path rewrite template (`/v2/users/{params.id}`).
 */
import type { Handler } from 'hono'
import type { ActionConfig } from '../config/schema'
import type { AppEnv } from '../context'
import { requestScope } from '../template/scope'
import { compileTemplate, encodeForPath } from '../template/template'
import { proxyToUpstream } from '../upstream/proxy'
import type { CompiledUpstream } from '../upstream/upstream'

type ProxyActionConfig = Extract<ActionConfig, { type: 'proxy' }>

/** Removes `prefix` when it is a whole leading run of segments: `/api` strips `/api/x`, not `/apix`. */
export function stripPathPrefix(path: string, prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '')
  if (path === trimmed) return '/'
  if (path.startsWith(trimmed + '/')) return path.slice(trimmed.length)
  return path
}

export function proxyAction(action: ProxyActionConfig, upstream: CompiledUpstream, deadlineMs: number | undefined): Handler<AppEnv> {
  const rewrite = action.path !== undefined ? compileTemplate(action.path) : undefined
  const { stripPrefix, websocket } = action
  return function proxy(c) {
    let path = c.var.upstreamRequest.path
    if (stripPrefix !== undefined) path = stripPathPrefix(path, stripPrefix)
    if (rewrite) {
      path = rewrite.render(requestScope(c), encodeForPath)
      if (!path.startsWith('/')) path = `/${path}`
    }
    const deadline = deadlineMs !== undefined ? c.var.startedAt + deadlineMs : undefined
    return proxyToUpstream(c, upstream, { path, websocket, deadline })
  }
}
