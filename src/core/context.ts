/**
 * @module
 * What a request carries through the pipeline. Policies publish values here (as Hono's own
 * request-id middleware does, through `ContextVariableMap`) and later stages read them.
 */
import type { Env } from './env'
import type { MiddlewareHandler } from 'hono'
import type { RequestLog } from './logging'
import type { Runtime } from './runtime'

/** The request the upstream will receive. Request policies edit it; the action sends it. */
export type UpstreamRequestDraft = {
  method: string
  /** Normalised, percent-encoded path (before any rewrite by the action). */
  path: string
  /** The query string as sent (`?a=1&b=2`, or empty); a policy that edits it re-serialises it. */
  search: string
  headers: Headers
  /**
   * A replacement request body (a transformed or size-limited one); when undefined the action
   * sends the client's body as it arrived.
   */
  body?: ReadableStream | ArrayBuffer | string | null
  /**
   * Run before each try leaves (proxy, mirror, fallback and aggregation calls alike), on a copy of
   * the headers, with that try's final method, target URL and headers (after every rewrite): for
   * edits that must see exactly what the origin receives and differ per try (signatures).
   */
  beforeSend?: ((request: OutgoingRequest) => void | Promise<void>)[]
}

/** The request as the upstream will receive it, handed to `beforeSend` hooks. */
export type OutgoingRequest = { method: string; url: string; headers: Headers }

/** The route a request matched, as policies see it (the gateway compiles it: `gateway/route.ts`). */
export type MatchedRoute = {
  id: string
  index: number
  /**
   * The pipeline after `policy`, then the action, composed: what a policy runs on a context of its
   * own (a background cache refresh). Undefined when `policy` is not one of this route's.
   */
  downstreamOf(policy: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> | undefined
}

/** Who is calling, as established by an authentication policy. */
export type Consumer = {
  id: string
  plan?: string | undefined
  /** How the consumer was identified: `jwt`, `api-key`. */
  via: string
  metadata?: Record<string, unknown> | undefined
  /** The `iss` of the token that identified the consumer (set by the `jwt` policy). */
  issuer?: string | undefined
  /**
   * What keys the consumer's shared state (rate-limit counters, plan quotas, cache partition): see
   * `consumerKey` in `auth/consumer.ts`. The plain `id` for a configured or API-key consumer;
   * qualified by the issuer for a token's subject the config doesn't know.
   */
  key: string
}

declare module 'hono' {
  interface ContextVariableMap {
    requestId: string
    /** The request URL, parsed once. */
    url: URL
    /** Milliseconds since the epoch when the gateway received the request. */
    startedAt: number
    route: MatchedRoute
    params: Record<string, string>
    upstreamRequest: UpstreamRequestDraft
    consumer: Consumer | undefined
    /** The SHA-256 (hex) of the API key an `api-key` policy verified (never the key): the `apiKey` rate-limit key. */
    apiKeyHash: string | undefined
    claims: Record<string, unknown> | undefined
    log: RequestLog
    /** The gateway's runtime (clock, random, timers, `waitUntil`): see `core/runtime.ts`. */
    runtime: Runtime
  }
}

export type AppEnv = { Bindings: Env }
