/**
 * @module
 * Canary splits and mirroring, on the proxy action (they choose between upstreams; the upstream
 * itself chooses between its targets):
 *
 * - `split: [{ upstream: "users-v2", weight: 5 }]` sends 5% of the route's requests to `users-v2`,
 *   the rest to the action's `upstream`. With `pinBy` (`consumer`, `ip`, `header:<name>`,
 *   `cookie:<name>`) the side is a hash of that key, so one client always sees one version; a
 *   request without the key is drawn at random.
 * - `mirror: { upstream, percent }` sends a copy of the request to a second upstream after the
 *   client's request has gone, in `waitUntil`: its response is discarded, and it can neither delay
 *   nor fail the client's response. A request body is mirrored only if it is small enough to copy
 *   (`bodyLimit`, with a Content-Length); otherwise the request is not mirrored.
 */
import type { Context } from 'hono'
import type { AppEnv, UpstreamRequest } from '../core/context'
import { logEvent } from '../core/logging'
import type { UpstreamLog } from '../core/logging'
import { keyReader } from './balancer'
import { callUpstream } from './client'
import { executionContextOf, hash32 } from '../core/runtime'
import type { CompiledUpstream } from './upstream'

export type Split = {
  /** The upstream for this request (the main one, or a canary), and its name if a canary. */
  choose(c: Context<AppEnv>): { upstream: CompiledUpstream; canary?: string }
}

/** Resolution of the hash into percent: 10,000 buckets = steps of 0.01%. */
const BUCKETS = 10_000

export function createSplit(main: CompiledUpstream, split: { upstream: string; weight: number }[], upstreams: Map<string, CompiledUpstream>, pinBy?: string): Split {
  let total = 0
  const bands = split.map((s) => ({ name: s.upstream, upstream: upstreams.get(s.upstream)!, until: (total += s.weight) }))
  const readKey = pinBy !== undefined ? keyReader(pinBy) : undefined
  return {
    choose(c) {
      const key = readKey?.(c.get('upstreamRequest').headers, c)
      // A key of one route always lands in the same bucket: pinned per client.
      const point = key !== undefined ? ((hash32(`split:${key}`) % BUCKETS) / BUCKETS) * 100 : c.get('runtime').random() * 100
      for (const band of bands) if (point < band.until) return { upstream: band.upstream, canary: band.name }
      return { upstream: main }
    },
  }
}

export type Mirror = {
  /** True when this request should be mirrored (and its body can be copied). */
  wanted(c: Context<AppEnv>): boolean
  /** Sends the copy in the background; never throws, never delays the caller. */
  send(c: Context<AppEnv>, request: UpstreamRequest): void
}

export function createMirror(config: { upstream: string; percent: number; bodyLimit: number }, upstreams: Map<string, CompiledUpstream>): Mirror {
  const upstream = upstreams.get(config.upstream)!
  return {
    wanted(c) {
      if (config.percent < 100 && c.get('runtime').random() * 100 >= config.percent) return false
      if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.raw.body === null) return true
      const length = Number(c.req.header('content-length') ?? NaN)
      return Number.isFinite(length) && length <= config.bodyLimit
    },
    send(c, request) {
      const log: UpstreamLog = { name: upstream.name }
      const headers = new Headers(request.headers)
      headers.set('X-Edgeway-Mirror', '1')
      const copy: UpstreamRequest = {
        method: request.method,
        path: request.path,
        search: request.search,
        headers,
        body: request.body instanceof ArrayBuffer ? request.body.slice(0) : request.body,
        beforeSend: request.beforeSend,
      }
      c.get('log').mirror = upstream.name
      const done = callUpstream(upstream, copy, { timeoutMs: upstream.timeouts.headers }, log)
        .then((res) => res.body?.cancel())
        .catch(() => {})
      if (!executionContextOf(c)) logEvent('mirror_without_context', { upstream: upstream.name })
      c.get('runtime').waitUntil(c, done)
    },
  }
}
