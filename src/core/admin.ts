/**
 * @module
 * What a feature's admin endpoints are handed. The gateway mounts the admin API (`gateway/admin.ts`)
 * and lists every feature's endpoints there; a feature only writes an `AdminExtension`.
 */
import type { Context, Hono } from 'hono'
import type { ConfigView } from './config-view'
import type { AppEnv } from './context'
import { readUpTo } from './body'
import { sha256 } from './encoding'
import type { Env } from './env'
import { GatewayError } from './errors'

/**
 * Call after comparing a presented admin token: `ok` false counts a failure. Throws a 429
 * `GatewayError` while the caller's IP is blocked (whatever `ok` is); otherwise returns.
 */
export type AdminTokenGuard = (c: Context<AppEnv>, ok: boolean) => Promise<void>

export type AdminContext = {
  config: ConfigView
  env: Env
  /** The active config's version: a hash of the config as written. */
  configVersion: string
  /**
   * The config as written, for display; or a function that reads it again (a config record: its
   * text is kept, not tens of MB of parsed objects). A config as written is JSON, never a function.
   */
  source: unknown
  /** Counts wrong admin tokens per client IP (an endpoint with its own login uses it too). */
  guardToken: AdminTokenGuard
  /**
   * What `GET {prefix}/upstreams` answers: the running config's upstreams as this isolate sees
   * them (`upstream/admin.ts`). Handed in by the gateway, which holds the compiled upstreams.
   */
  upstreamStatus?: ((c: Context<AppEnv>) => Promise<unknown>) | undefined
}

/** Adds a feature's endpoints to the admin app (mounted under `gateway.admin.prefix`). */
export type AdminExtension = (app: Hono<AppEnv>, ctx: AdminContext) => void

/** Compares two secrets in constant time (hashing first, so lengths don't leak either). */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)])
  return crypto.subtle.timingSafeEqual(a, b)
}

/**
 * An admin request's body as text, at most `max` bytes: refused with 413 before anything is read
 * when `Content-Length` says more, and as soon as a body without one passes the cap. An admin
 * endpoint is reachable by anyone who can reach the gateway, so no body of any size is buffered.
 */
export async function boundedBodyText(c: Context<AppEnv>, max: number): Promise<string> {
  const tooLarge = () => new GatewayError('ERR_PAYLOAD_TOO_LARGE', { detail: `The body is over ${max} bytes.` })
  const declared = Number(c.req.header('content-length') ?? '0')
  if (declared > max) throw tooLarge()
  const stream = c.req.raw.body
  if (!stream) return ''
  const bytes = await readUpTo(stream, max)
  if (!bytes) throw tooLarge()
  return new TextDecoder().decode(bytes)
}

/**
 * `compute` run on first call and remembered: what an admin endpoint learns by scanning every route
 * (the KV stores, limiter bindings, cached routes it may name) is found when it is first asked,
 * not while a hot reload builds the admin API, which runs between requests in slices: a scan of
 * 26,000 routes in one go held the thread for 10-12 ms.
 */
export function onFirstUse<T>(compute: () => T): () => T {
  let value: { v: T } | undefined
  return () => (value ??= { v: compute() }).v
}
