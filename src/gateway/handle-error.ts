/**
 * @module
 * Turns any error into the client's problem+json response, and records it in the request's log.
 * The one place errors are rendered: Hono calls it as the app's `onError` (global policies, the
 * admin API, 404/405), and a route's composed pipeline calls it at the level an error was thrown
 * (`./route.ts`). Policies and actions only throw `GatewayError`s.
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { AppEnv } from '../core/context'
import { GatewayError, problemResponse, type ErrorCode } from '../core/errors'
import { logEvent, type RequestLog } from '../core/logging'

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'ERR_BAD_REQUEST',
  401: 'ERR_UNAUTHORIZED',
  403: 'ERR_FORBIDDEN',
  404: 'ERR_ROUTE_NOT_FOUND',
  405: 'ERR_METHOD_NOT_ALLOWED',
  413: 'ERR_PAYLOAD_TOO_LARGE',
  429: 'ERR_RATE_LIMITED',
  431: 'ERR_HEADERS_TOO_LARGE',
}

/** Any error -> problem+json. Unexpected ones are logged in full and shown as a bare 500. */
export function handleError(err: unknown, c: Context<AppEnv>): Response {
  return renderError(err, c.get('log'), c.get('requestId'))
}

/** `handleError` without a Hono context: the compiled pass-through (`./fast-path.ts`) calls it directly. */
export function renderError(err: unknown, log: RequestLog | undefined, requestId: string | undefined): Response {
  let error: GatewayError
  if (err instanceof GatewayError) error = err
  else if (err instanceof HTTPException && err.status < 500) {
    const headers = err.res ? Object.fromEntries(err.res.headers) : {}
    delete headers['content-type']
    delete headers['content-length']
    error = new GatewayError(STATUS_CODES[err.status] ?? 'ERR_BAD_REQUEST', { headers, cause: err })
  } else {
    error = new GatewayError('ERR_INTERNAL', { cause: err })
    logEvent('unhandled_error', { requestId, error: String(err), stack: (err as Error | undefined)?.stack })
  }
  if (log) {
    log.error = error.code
    if (error.cause !== undefined && error.code !== 'ERR_INTERNAL') log.errorCause = String(error.cause)
  }
  return problemResponse(error, requestId)
}

