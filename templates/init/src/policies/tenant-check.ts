/**
 * An example custom policy, `{ "type": "custom:tenant-check", "allow": [...] }` in gateway.json:
 * only the tenants it lists may call the route, named by a request header. Its options are checked
 * by its own schema when the config is (`npm run check`, and when the Worker starts), and it runs
 * in the `auth` phase: before rate limits and the cache, whatever its place in the list.
 */
import { definePolicy, GatewayError } from 'edgeway'
import * as v from 'valibot'

export const tenantCheck = definePolicy({
  phase: 'auth',
  schema: v.strictObject({
    header: v.optional(v.string(), 'x-tenant'),
    allow: v.pipe(v.array(v.string()), v.minLength(1, 'must list at least one tenant')),
  }),
  create({ header, allow }) {
    const allowed = new Set(allow)
    return async function tenantCheck(c, next) {
      const tenant = c.req.header(header)
      // A GatewayError becomes the client's application/problem+json answer.
      if (tenant === undefined) throw new GatewayError('ERR_BAD_REQUEST', { detail: `The ${header} header is required.` })
      if (!allowed.has(tenant)) throw new GatewayError('ERR_FORBIDDEN', { detail: `Tenant "${tenant}" may not call this route.` })
      // The origin learns which tenant the gateway let through.
      c.get('upstreamRequest').headers.set('x-tenant-checked', tenant)
      await next()
    }
  },
})
