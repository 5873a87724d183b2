/**
 * @module
 * The values a request-side template can read. Built on demand from the context, without copying
 * headers or query parameters.
 *
 *   params.<name>   route path parameters (decoded); `params.*` is a wildcard's tail
 *   query.<name>    first value of a query parameter
 *   headers.<name>  a request header (case-insensitive)
 *   claims.<path>   verified token claims (`claims.org.id`)
 *   consumer.id / consumer.plan / consumer.metadata.<key> / consumer.issuer / consumer.key (see `auth/consumer`)
 *   request.id / request.ip / request.method / request.path / request.search (`?a=1` or empty)
 *   / request.host / request.time
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'

export const REQUEST_TEMPLATE_ROOTS = ['params', 'query', 'headers', 'claims', 'consumer', 'request'] as const

export function requestScope(c: Context<AppEnv>): Record<string, unknown> {
  const url = c.get('url')
  const headers = c.req.raw.headers
  const startedAt = c.get('startedAt')
  let time: string | undefined
  // Own getters (templates read own properties only) for what costs something to make and most
  // templates never name: the query's `URLSearchParams`, the URL's parts, the formatted time. The
  // path is read now: a later rewrite must not change what this scope says.
  return {
    params: c.get('params') ?? {},
    get query() {
      return url.searchParams
    },
    headers,
    claims: c.get('claims'),
    consumer: c.get('consumer'),
    request: {
      id: c.get('requestId'),
      get ip() {
        return headers.get('cf-connecting-ip') ?? undefined
      },
      method: c.req.method,
      path: c.get('upstreamRequest')?.path ?? url.pathname,
      get search() {
        return url.search
      },
      get host() {
        return url.host
      },
      get time() {
        return (time ??= new Date(startedAt).toISOString())
      },
    },
  }
}
