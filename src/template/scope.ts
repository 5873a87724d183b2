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
  return {
    params: c.get('params') ?? {},
    query: url.searchParams,
    headers: c.req.raw.headers,
    claims: c.get('claims'),
    consumer: c.get('consumer'),
    request: {
      id: c.get('requestId'),
      ip: c.req.header('cf-connecting-ip'),
      method: c.req.method,
      path: c.get('upstreamRequest')?.path ?? url.pathname,
      search: url.search,
      host: url.host,
      time: new Date(c.get('startedAt')).toISOString(),
    },
  }
}
