/**
 * @module
 * The `proxy` action: forwards the request to a named upstream, with an optional strip-prefix
 * and path rewrite template (`/v2/users/{params.id}`), a canary `split` between upstreams and a
 * `mirror` (see `../upstream/canary`).
 */
import type { ProxyActionConfig } from './schema'
import type { Context, Handler } from 'hono'
import type { AppEnv } from '../core/context'
import { requestScope } from '../template/scope'
import { compileTemplate, encodeForPath, type Template } from '../template/template'
import { createMirror, createSplit } from './canary'
import { proxyToUpstream } from './proxy'
import type { CompiledUpstream } from './upstream'
import { passThroughAction, plainTarget, stripPathPrefix } from './pass-through'

/**
 * Renders a path rewrite template: each value is encoded as path text (see `encodeForPath`) and
 * the result always starts with `/`. Shared by this action and the `transform` policy.
 */
export function rewritePath(template: Template, c: Context<AppEnv>): string {
  const path = template.render(requestScope(c), encodeForPath)
  return path.startsWith('/') ? path : `/${path}`
}

export function proxyAction(
  action: ProxyActionConfig,
  upstream: CompiledUpstream,
  deadlineMs: number | undefined,
  upstreams: Map<string, CompiledUpstream> = new Map(),
): Handler<AppEnv> {
  const rewrite = action.path !== undefined ? compileTemplate(action.path) : undefined
  const { stripPrefix, websocket, hedge } = action
  const plain = rewrite === undefined && !action.split?.length && !action.mirror && !websocket && !hedge && deadlineMs === undefined ? plainTarget(upstream) : undefined
  if (plain) return passThroughAction(upstream, plain, stripPrefix)
  const split = action.split?.length ? createSplit(upstream, action.split, upstreams, action.pinBy) : undefined
  const mirror = action.mirror ? createMirror(action.mirror, upstreams) : undefined
  return function proxy(c) {
    let path = c.get('upstreamRequest').path
    if (stripPrefix !== undefined) path = stripPathPrefix(path, stripPrefix)
    if (rewrite) path = rewritePath(rewrite, c)
    const deadline = deadlineMs !== undefined ? c.get('startedAt') + deadlineMs : undefined
    let target = upstream
    if (split) {
      const chosen = split.choose(c)
      target = chosen.upstream
      if (chosen.canary !== undefined) c.get('log').canary = chosen.canary
    }
    return proxyToUpstream(c, target, { path, websocket, deadline, mirror: mirror?.wanted(c) ? mirror : undefined, hedge })
  }
}
