/**
 * @module
 * Gateway errors. Every failure a client can see is a `GatewayError` with a stable string `code`
 * (as jose's errors carry one), and every code maps to exactly one RFC 9457 problem type.
 * They are rendered in one place, `problemResponse`, so no policy builds its own error body.
 */
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** The problem types a client can receive: code -> status and a stable human title. */
export const PROBLEMS = {
  ERR_BAD_REQUEST_PATH: { status: 400, title: 'Bad request path' },
  ERR_BAD_REQUEST: { status: 400, title: 'Bad request' },
  ERR_UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  ERR_FORBIDDEN: { status: 403, title: 'Forbidden' },
  ERR_INSUFFICIENT_SCOPE: { status: 403, title: 'Insufficient scope' },
  ERR_ROUTE_NOT_FOUND: { status: 404, title: 'Not found' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  ERR_CONFLICT: { status: 409, title: 'Conflict' },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  ERR_URI_TOO_LONG: { status: 414, title: 'URI too long' },
  ERR_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  ERR_QUOTA_EXCEEDED: { status: 429, title: 'Quota exceeded' },
  ERR_CONFIG_INVALID: { status: 500, title: 'Gateway misconfigured' },
  ERR_CONFIG_UNAVAILABLE: { status: 503, title: 'Gateway configuration unavailable' },
  ERR_INTERNAL: { status: 500, title: 'Internal gateway error' },
  ERR_UPSTREAM_UNREACHABLE: { status: 502, title: 'Bad gateway' },
  ERR_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'Bad gateway' },
  ERR_UPSTREAM_INVALID_RESPONSE: { status: 502, title: 'Bad gateway' },
  ERR_UPSTREAM_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  ERR_CIRCUIT_OPEN: { status: 503, title: 'Service unavailable' },
  ERR_AUTH_UNAVAILABLE: { status: 503, title: 'Authentication unavailable' },
  ERR_CACHE_PURGE_UNAVAILABLE: { status: 503, title: 'Cache purge unavailable' },
  ERR_RATE_LIMIT_UNAVAILABLE: { status: 503, title: 'Rate limiting unavailable' },
  ERR_METRICS_UNAVAILABLE: { status: 503, title: 'Metrics unavailable' },
  ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'Gateway timeout' },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>

export type ErrorCode = keyof typeof PROBLEMS

export type GatewayErrorOptions = {
  /** Safe, client-facing explanation. Never internal addresses, stack traces or secrets. */
  detail?: string
  /** Extra response headers (`Allow`, `Retry-After`, `WWW-Authenticate`, ...). */
  headers?: Record<string, string>
  /** Extra problem members (RFC 9457 extension members). */
  extensions?: Record<string, unknown>
  /** The underlying error: logged, never sent. */
  cause?: unknown
}

/**
 * A config that can't run, listing every problem as `path: reason`. Thrown by validation and by
 * whatever compiles a config into something that runs (upstream targets, origin-auth secrets).
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid gateway config:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Problem type URI for a code: `urn:edgeway:problem:route-not-found`. */
export function problemType(code: ErrorCode): string {
  return `urn:edgeway:problem:${code.slice(4).toLowerCase().replaceAll('_', '-')}`
}

export class GatewayError extends HTTPException {
  readonly code: ErrorCode
  readonly detail: string | undefined
  readonly headers: Record<string, string>
  readonly extensions: Record<string, unknown>

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(PROBLEMS[code].status, { message: options.detail ?? PROBLEMS[code].title, cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.detail = options.detail
    this.headers = options.headers ?? {}
    this.extensions = options.extensions ?? {}
  }

  override getResponse(): Response {
    return problemResponse(this)
  }
}

/**
 * Renders an error as `application/problem+json`. Anything that is not a `GatewayError` becomes
 * a generic 500 whose body says nothing about the cause.
 */
export function problemResponse(err: unknown, instance?: string): Response {
  const error = err instanceof GatewayError ? err : new GatewayError('ERR_INTERNAL', { cause: err })
  const { status, title } = PROBLEMS[error.code]
  const body: Record<string, unknown> = {
    type: problemType(error.code),
    title,
    status,
    ...(error.detail !== undefined && { detail: error.detail }),
    ...(instance !== undefined && { instance }),
    code: error.code,
    ...error.extensions,
  }
  const headers = new Headers(error.headers)
  headers.set('Content-Type', 'application/problem+json')
  headers.set('Cache-Control', 'no-store')
  return new Response(JSON.stringify(body), { status, headers })
}
