/**
 * @module
 * OAuth 2.0 token introspection (RFC 7662) for opaque tokens: the client that asks the issuer's
 * endpoint whether a token is active, and the cache of active answers.
 *
 * The gateway authenticates as a client (`client_secret_basic`: RFC 6749 2.3.1, id and secret
 * form-encoded, then Base64) and POSTs `token=...&token_type_hint=access_token`. Only a 200 whose
 * body is a JSON object with a boolean `active` is an answer; anything else (unreachable, a
 * timeout, another status, a body over the cap or not JSON) means nothing is known: the caller
 * answers 503, never 401, since the token may be good.
 *
 * Active answers are cached per policy instance (so per config, per isolate) by the token's
 * SHA-256, until min(`exp`, `cacheSeconds`) on the runtime's clock: a revoked token stops working
 * within `cacheSeconds` (60 at most). Inactive answers are not cached (they say nothing a second
 * call wouldn't; guessing is bounded by a `beforeAuth` rate limit).
 */
import { sha256, toHex } from '../core/encoding'
import type { Runtime } from '../core/runtime'
import { FetchJsonError, readCapped } from './fetch-json'

export type IntrospectionClient = { url: string; clientId: string; clientSecret: string; timeoutMs: number; maxBytes: number }

/** The endpoint's answer: RFC 7662 2.2 members (`active`, `scope`, `exp`, `sub`, `client_id`, ...). */
export type IntrospectionResult = { active: boolean } & Record<string, unknown>

/** Entries a policy keeps at most: the oldest goes first. */
const MAX_CACHED = 10_000

const formEncode = (text: string) => encodeURIComponent(text).replace(/%20/g, '+')

function basicCredentials(clientId: string, clientSecret: string): string {
  const pair = new TextEncoder().encode(`${formEncode(clientId)}:${formEncode(clientSecret)}`)
  return `Basic ${btoa(String.fromCharCode(...pair))}`
}

/** Asks the endpoint about `token`; throws `FetchJsonError` when there is no usable answer. */
export async function introspect(client: IntrospectionClient, token: string, runtime: Runtime): Promise<IntrospectionResult> {
  const controller = new AbortController()
  const timer = runtime.setTimeout(() => controller.abort(new DOMException('The operation timed out.', 'TimeoutError')), client.timeoutMs)
  try {
    let res: Response
    try {
      res = await fetch(client.url, {
        method: 'POST',
        headers: {
          authorization: basicCredentials(client.clientId, client.clientSecret),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: `token=${formEncode(token)}&token_type_hint=access_token`,
        redirect: 'manual',
        signal: controller.signal,
      })
    } catch (cause) {
      throw new FetchJsonError(controller.signal.aborted ? 'timeout' : 'unreachable', { cause })
    }
    if (res.status !== 200) {
      await res.body?.cancel()
      throw new FetchJsonError(`HTTP ${res.status}`)
    }
    let body: unknown
    try {
      body = JSON.parse(await readCapped(res, client.maxBytes))
    } catch (cause) {
      throw cause instanceof FetchJsonError ? cause : new FetchJsonError('not JSON', { cause })
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof (body as { active?: unknown }).active !== 'boolean') {
      throw new FetchJsonError('not an introspection response (no boolean "active")')
    }
    return body as IntrospectionResult
  } finally {
    runtime.clearTimeout(timer)
  }
}

/** A cache of active answers, by the token's hash (the token itself is not kept). */
export function introspectionCache(cacheSeconds: number) {
  const entries = new Map<string, { result: IntrospectionResult; until: number }>()
  return {
    async get(token: string, now: number): Promise<{ key: string; result?: IntrospectionResult }> {
      const key = toHex(await sha256(token))
      const hit = entries.get(key)
      if (hit && now < hit.until) return { key, result: hit.result }
      if (hit) entries.delete(key)
      return { key }
    },
    /** Keeps an active answer until min(`exp`, now + `cacheSeconds`). */
    put(key: string, result: IntrospectionResult, now: number): void {
      const exp = typeof result.exp === 'number' ? result.exp * 1000 : Infinity
      const until = Math.min(exp, now + cacheSeconds * 1000)
      if (!result.active || until <= now) return
      if (entries.size >= MAX_CACHED) entries.delete(entries.keys().next().value!)
      entries.set(key, { result, until })
    },
  }
}
