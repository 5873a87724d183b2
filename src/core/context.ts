/**
 * @module
 * What a request carries through the pipeline. Policies publish values here (as Hono's own
 * request-id middleware does, through `ContextVariableMap`) and later stages read them.
 */
import type { Env } from './env'
import type { MiddlewareHandler } from 'hono'
import type { RequestLog, UpstreamLog } from './logging'
import type { Runtime } from './runtime'

/** What a request to an upstream may carry as its body. */
export type UpstreamBody = ReadableStream | ArrayBuffer | string | null

/**
 * A request to an upstream. The request's own (`c.get('upstreamRequest')`) is a draft: request
 * policies edit it, and the action sends it. `callUpstream` (`upstream/client.ts`) sends one: the
 * proxy action's, a mirror's copy, each aggregation call's; how it is sent (timeouts, deadline,
 * target hints) is the call's, not the request's.
 */
export type UpstreamRequest = {
  method: string
  /** Percent-encoded path. In the draft: the normalised path, before any rewrite by the action. */
  path: string
  /** The query string as sent (`?a=1&b=2`, or empty); a policy that edits it re-serialises it. */
  search: string
  headers: Headers
  /**
   * In the draft, a replacement request body (a transformed or size-limited one); undefined there
   * means the client's body as it arrived, which the proxy action sends. `callUpstream` sends none
   * for undefined.
   */
  body?: UpstreamBody | undefined
  /**
   * Run before each try leaves (proxy, mirror, fallback and aggregation calls alike), on a copy of
   * the headers, with that try's final method, target URL and headers (after every rewrite): for
   * edits that must see exactly what the origin receives and differ per try (signatures).
   */
  beforeSend?: ((request: OutgoingRequest) => void | TryEnd | Promise<void | TryEnd>)[] | undefined
}

/**
 * The request as the upstream will receive it, handed to `beforeSend` hooks; `call` is the log entry
 * of the call the try belongs to (every try of one call shares it).
 */
export type OutgoingRequest = { method: string; url: string; headers: Headers; call?: UpstreamLog | undefined }

/**
 * What a `beforeSend` hook may return: run once when that try ends, with its outcome as logged (a
 * span's end: `observability/spans.ts`).
 */
export type TryEnd = (outcome: { status?: number | undefined; error?: string | undefined }) => void

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
  /** Groups the consumer belongs to (`acl` policies read them). */
  groups?: readonly string[] | undefined
  /** How the consumer was identified: `jwt`, `api-key`, `oauth`, `basic-auth`, `mtls`. */
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
    upstreamRequest: UpstreamRequest
    consumer: Consumer | undefined
    /** The SHA-256 (hex) of the API key an `api-key` policy verified (never the key): the `apiKey` rate-limit key. */
    apiKeyHash: string | undefined
    claims: Record<string, unknown> | undefined
    log: RequestLog
    /**
     * Called once when the client goes away first, after the request context has marked the log
     * record 499 (`gateway/request-context.ts`, or the compiled path, holds the request's one abort
     * listener): the metrics middleware records the request from here, and a plain proxy action
     * aborts its upstream call (each wraps the hook it found), rather than with listeners of their own.
     */
    onClientGone: (() => void) | undefined
    /** The gateway's runtime (clock, random, timers, `waitUntil`): see `core/runtime.ts`. */
    runtime: Runtime
    /**
     * Rate-limit units the action says this request cost, when it says (an `aggregate` action: the
     * sum of its answered calls' `cost`); a `rate-limit` policy with `actionCost` charges it.
     */
    actionCost: number | undefined
  }
}

export type AppEnv = { Bindings: Env }
