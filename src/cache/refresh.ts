/**
 * @module
 * Background refresh of a stale entry (stale-while-revalidate): at most one per key per isolate.
 *
 * Workers forbid awaiting a promise tied to another request's I/O, so "one refresh at a time" is a
 * per-isolate map of keys to the time their refresh started, set before the refresh begins; a
 * request that finds a recent claim serves stale and starts nothing. A claim is released once the
 * new entry is stored (so nobody refreshes again in between), or after a timeout should the
 * refresh never finish. `startRefresh` is the whole of it: claim, run the rest of the pipeline
 * detached, store or drop what comes back, release.
 */
import { Context, type MiddlewareHandler } from 'hono'
import type { AppEnv } from '../core/context'
import { CONDITIONAL_HEADERS } from '../http-cache/entry'
import { logEvent } from '../core/logging'
import type { Stored } from './lookup'

/**
 * Origin answers that count as errors: stale-if-error serves a stale entry instead (RFC 5861
 * section 4), and a refresh that gets one keeps the stale entry.
 */
export const ERROR_STATUSES = new Set([500, 502, 503, 504])

/**
 * Per isolate, not per config: a refresh claimed before a hot reload is still running after it.
 * Times are the caller's runtime's `now()`; bounded by `CLAIM_MAX` keys and `CLAIM_MAX_CHARS`
 * of them (a key text carries the client's URL, which may be kilobytes).
 */
const claims = new Map<string, number>()
let claimedChars = 0
const CLAIM_MAX = 10_000
const CLAIM_MAX_CHARS = 1024 * 1024

const claimsFull = (adding: number) => claims.size >= CLAIM_MAX || claimedChars + adding > CLAIM_MAX_CHARS

/**
 * Claims the refresh of `key`; false when another request of this isolate holds a recent claim, or
 * when the claims held are at their bound and none has expired (the stale entry is served
 * without a refresh until one does).
 */
export function claimRefresh(key: string, timeoutMs: number, now: number): boolean {
  const since = claims.get(key)
  if (since !== undefined && now - since < timeoutMs) return false
  if (since === undefined && claimsFull(key.length)) {
    for (const [k, t] of claims) if (now - t >= timeoutMs) forgetClaim(k)
    if (claimsFull(key.length)) return false
  }
  if (since === undefined) claimedChars += key.length
  claims.set(key, now)
  return true
}

function forgetClaim(key: string): void {
  if (claims.delete(key)) claimedChars -= key.length
}

/**
 * Ends a claim. `holdMs` keeps it a little longer after a successful refresh: a request that read
 * the old entry just before the new one landed then doesn't start a second refresh.
 */
export function releaseRefresh(key: string, timeoutMs: number, holdMs: number, now: number): void {
  if (holdMs <= 0) forgetClaim(key)
  else if (claims.has(key)) claims.set(key, now - timeoutMs + holdMs)
}

/**
 * Runs the rest of the pipeline (transforms, then the action) for `c`'s request on a context of its
 * own, so the client's response (already sent, stale) and the refresh never share `c.res`. The
 * request is a fresh GET without the client's abort signal: the refresh outlives the client.
 */
export async function runDetached(c: Context<AppEnv>, downstream: MiddlewareHandler<AppEnv>): Promise<Response> {
  const request = new Request(c.req.raw.url, { method: 'GET', headers: c.req.raw.headers })
  const ctx = new Context<AppEnv>(request, { env: c.env, executionCtx: c.executionCtx })
  for (const [name, value] of Object.entries(c.var)) ctx.set(name as never, value as never)
  const draft = c.get('upstreamRequest')
  // The client's validators are for its own copy: the origin's 304 to them would refresh nothing.
  const headers = new Headers(draft.headers)
  for (const name of CONDITIONAL_HEADERS) headers.delete(name)
  ctx.set('upstreamRequest', { ...draft, method: 'GET', headers })
  // The client's log line is written already; the refresh reports through its own record.
  ctx.set('log', { requestId: c.get('requestId'), method: 'GET', path: draft.path, cacheRefresh: true })
  await downstream(ctx, async () => {})
  return ctx.res
}

/** Serves stale now; refreshes in the background unless this isolate is refreshing the key already. */
export function startRefresh(
  c: Context<AppEnv>,
  self: MiddlewareHandler<AppEnv>,
  keyText: string,
  timeoutMs: number,
  storeFrom: (res: Response) => Promise<Stored>,
  drop: () => Promise<void>,
): void {
  const downstream = c.get('route').downstreamOf(self)
  const runtime = c.get('runtime')
  if (!downstream || !claimRefresh(keyText, timeoutMs, runtime.now())) return
  const refreshed = runDetached(c, downstream)
  let holdMs = 0
  runtime.waitUntil(
    c,
    refreshed
      .then(async (res) => {
        const result = await storeFrom(res)
        await result.response.body?.cancel().catch(() => {})
        const outcome = result.done ? await result.done : undefined
        if (outcome?.stored) holdMs = 1_000
        // An error keeps the stale entry; an answer that may not be stored replaces it with nothing.
        else if (!ERROR_STATUSES.has(res.status) && res.status !== 304) await drop()
      })
      .catch((err: unknown) => logEvent('cache_refresh_failed', { route: c.get('route').id, reason: String(err) }))
      .finally(() => releaseRefresh(keyText, timeoutMs, holdMs, runtime.now())),
  )
}
