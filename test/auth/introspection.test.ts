/**
 * `oauth`: opaque tokens checked by the test issuer's RFC 7662 introspection endpoint
 * (test/node/issuer.ts), with client credentials from a Worker secret; active answers cached until
 * min(exp, cacheSeconds) on the injected clock; the endpoint failing is 503, an inactive token 401.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi } from '../../src/openapi/document'
import { configProblems } from '../support/config'
import { aggregateConfig } from '../aggregate/helpers'
import { newTag, policyGateway, testGateway, type RouteGatewayExtras } from '../support/gateway'
import { manualRuntime } from '../support/runtime'
import { bearer, Tenant } from './tokens'

const CLIENT = ['edgeway', 'introspection secret & more'] as const
const WHO = { id: '{consumer.id}', via: '{consumer.via}', issuer: '{consumer.issuer}', scope: '{claims.scope}', plan: '{consumer.plan}' }

/** A tenant whose introspection endpoint knows `tokens` (token -> answer), and how to change it. */
async function introspectingTenant(tokens: Record<string, unknown>, more: Record<string, unknown> = {}) {
  const tenant = new Tenant()
  const control = async (body: Record<string, unknown>) => {
    const res = await fetch(`${tenant.issuer}/_control/introspection`, { method: 'PUT', body: JSON.stringify({ client: CLIENT, tokens, ...body }) })
    expect(res.ok).toBe(true)
  }
  await control(more)
  const calls = async () => ((await tenant.stats()) as unknown as { introspections: number }).introspections
  return { tenant, control, calls, url: `${tenant.issuer}/introspect` }
}

function oauthGateway(url: string, options: Record<string, unknown> = {}, extras: RouteGatewayExtras = {}, policies: unknown[] = []) {
  const { introspection, ...rest } = options as { introspection?: Record<string, unknown> }
  const policy = { introspection: { url, clientId: CLIENT[0], clientSecret: '${INTROSPECTION_SECRET}', ...introspection }, ...rest }
  return policyGateway('oauth', policy, { match: { path: '/me' }, action: { type: 'respond', body: WHO } as never, ...(policies.length > 0 && { policies: [{ type: 'oauth', ...policy } as never, ...(policies as never[])] }) }, {
    ...extras,
    env: { INTROSPECTION_SECRET: CLIENT[1], ...extras.env },
  })
}

const inSeconds = (clock: { now(): number }, s: number) => Math.floor(clock.now() / 1000) + s

describe('oauth: introspected tokens', () => {
  it('an active token passes: its subject is the consumer, its answer the claims', async () => {
    const { url } = await introspectingTenant({ 'opaque-1': { active: true, sub: 'ada', scope: 'orders:read', iss: 'ignored-unless-configured' } })
    const gw = oauthGateway(url)
    const res = await gw.fetch('/me', bearer('opaque-1'))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ id: 'ada', via: 'oauth', issuer: 'ignored-unless-configured', scope: 'orders:read' })
    expect(gw.logs.at(-1)).toMatchObject({ consumer: 'ada', auth: { via: 'oauth', outcome: 'ok' } })
    expect(JSON.stringify(gw.logs)).not.toContain('opaque-1')
  })

  it('the subject\'s plan comes from the config or the consumer store, never from the answer', async () => {
    const stored = `stored-${crypto.randomUUID().slice(0, 8)}`
    await env.API_KEYS.put(`consumer:${stored}`, JSON.stringify({ id: stored, plan: 'gold', createdAt: '', updatedAt: '' }))
    const { url } = await introspectingTenant({
      a: { active: true, sub: 'acme', plan: 'gold' },
      b: { active: true, sub: stored },
      c: { active: true, sub: 'stranger', plan: 'gold' },
    })
    const config = { gateway: { consumerStore: { kv: 'API_KEYS' } }, plans: { gold: {}, free: {} }, consumers: { acme: { plan: 'free' } } }
    const gw = oauthGateway(url, {}, { config })
    const planOf = async (token: string) => ((await (await gw.fetch('/me', bearer(token))).json()) as { plan?: string }).plan
    expect([await planOf('a'), await planOf('b'), await planOf('c')]).toEqual(['free', 'gold', undefined])
  })

  it('no token, an unknown or inactive token: 401 with the Bearer challenges', async () => {
    const { url } = await introspectingTenant({ revoked: { active: false, sub: 'ada' } })
    const gw = oauthGateway(url)
    const none = await gw.fetch('/me')
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer')
    for (const token of ['revoked', 'never-issued', 'x&token=revoked']) {
      const res = await gw.fetch('/me', bearer(token))
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(gw.logs.at(-1)).toMatchObject({ auth: { via: 'oauth', outcome: 'invalid', code: 'ERR_TOKEN_INACTIVE' } })
    }
  })

  it('refuses an active answer for another issuer or audience, an expired one, or one naming no consumer', async () => {
    const clock = manualRuntime()
    const { url } = await introspectingTenant({
      other: { active: true, sub: 'a', iss: 'https://evil.example', aud: 'api' },
      wrongAud: { active: true, sub: 'a', iss: 'https://idp.example', aud: ['web'] },
      expired: { active: true, sub: 'a', aud: 'api', exp: inSeconds(clock, -1) },
      anonymous: { active: true, aud: 'api' },
      good: { active: true, client_id: 'svc', aud: ['web', 'api'] },
    })
    const gw = oauthGateway(url, { issuer: 'https://idp.example', audience: 'api' }, { runtime: clock })
    const codes: Record<string, string> = { other: 'ERR_TOKEN_ISSUER', wrongAud: 'ERR_TOKEN_AUDIENCE', expired: 'ERR_TOKEN_EXPIRED', anonymous: 'ERR_TOKEN_NO_CONSUMER' }
    for (const [token, code] of Object.entries(codes)) {
      expect((await gw.fetch('/me', bearer(token))).status).toBe(401)
      expect((gw.logs.at(-1)!.auth as { code: string }).code).toBe(code)
    }
    expect(await (await gw.fetch('/me', bearer('good'))).json()).toMatchObject({ id: 'svc', issuer: 'https://idp.example' })
  })

  it('a missing scope is 403 insufficient_scope; acl claim rules read the answer', async () => {
    const { url } = await introspectingTenant({
      reader: { active: true, sub: 'r', scope: 'orders:read' },
      admin: { active: true, sub: 'a', scope: 'orders:read orders:write', roles: ['admin'] },
    })
    const scoped = oauthGateway(url, { scopes: ['orders:write'] })
    const res = await scoped.fetch('/me', bearer('reader'))
    expect(res.status).toBe(403)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="orders:write"')
    expect((await scoped.fetch('/me', bearer('admin'))).status).toBe(200)
    const acl = oauthGateway(url, {}, {}, [{ type: 'acl', allow: { claims: { roles: 'admin' } } }])
    expect((await acl.fetch('/me', bearer('admin'))).status).toBe(200)
    expect((await acl.fetch('/me', bearer('reader'))).status).toBe(403)
  })
})

describe('oauth: the token stays with the gateway', () => {
  it('a token in a custom header is not forwarded to aggregation calls by forwardHeaders "*"', async () => {
    const { url } = await introspectingTenant({ live: { active: true, sub: 'ada' } })
    const oauth = { type: 'oauth', introspection: { url, clientId: CLIENT[0], clientSecret: '${INTROSPECTION_SECRET}' }, token: { header: 'X-Access-Token' } }
    const config = aggregateConfig([{ name: 'a', upstream: 'origin', path: '/echo/a', select: 'headers', group: 'a' }], { forwardHeaders: ['*'] }, { policies: [oauth] })
    const res = await testGateway(config, { INTROSPECTION_SECRET: CLIENT[1] }).fetch('/agg/1', { headers: { 'x-access-token': 'live', 'x-other': 'kept', 'x-test-tag': newTag() } })
    expect(res.status).toBe(200)
    const sent = ((await res.json()) as Record<string, Record<string, string>>).a!
    expect(sent['x-other']).toBe('kept')
    expect(sent['x-access-token']).toBeUndefined()
  })
})

describe('oauth: the cache of active answers', () => {
  it('reuses an answer for cacheSeconds on the gateway clock: a revoked token stops within a minute', async () => {
    const clock = manualRuntime()
    const { control, calls, url } = await introspectingTenant({ live: { active: true, sub: 'ada', exp: inSeconds(clock, 3600) } })
    const gw = oauthGateway(url, {}, { runtime: clock })
    expect((await gw.fetch('/me', bearer('live'))).status).toBe(200)
    expect((await gw.fetch('/me', bearer('live'))).status).toBe(200)
    expect(await calls()).toBe(1)
    await control({ tokens: {} }) // revoked at the issuer
    await clock.advance(59_000)
    expect((await gw.fetch('/me', bearer('live'))).status).toBe(200)
    await clock.advance(1_000)
    expect((await gw.fetch('/me', bearer('live'))).status).toBe(401)
    expect(await calls()).toBe(2)
  })

  it('never past the token\'s exp; inactive answers are not cached', async () => {
    const clock = manualRuntime()
    const { calls, url } = await introspectingTenant({ short: { active: true, sub: 'ada', exp: inSeconds(clock, 10) } })
    const gw = oauthGateway(url, {}, { runtime: clock })
    expect((await gw.fetch('/me', bearer('short'))).status).toBe(200)
    await clock.advance(10_000)
    // The cached answer ended at exp; the issuer's (stale) answer says active, but exp has passed.
    expect((await gw.fetch('/me', bearer('short'))).status).toBe(401)
    expect(gw.logs.at(-1)).toMatchObject({ auth: { code: 'ERR_TOKEN_EXPIRED' } })
    expect(await calls()).toBe(2)
    await gw.fetch('/me', bearer('nope'))
    await gw.fetch('/me', bearer('nope'))
    expect(await calls()).toBe(4)
  })
})

describe('oauth: the endpoint failing is 503, never a 401 or 500', () => {
  async function expectUnavailable(res: Response) {
    expect(res.status).toBe(503)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.headers.get('retry-after')).toBe('5')
    expect(await res.json()).toMatchObject({ code: 'ERR_AUTH_UNAVAILABLE', detail: 'Tokens cannot be checked right now.' })
  }

  it('down, garbage, a non-answer, wrong client credentials, unreachable', async () => {
    const { control, url } = await introspectingTenant({ odd: { active: 'true', sub: 'a' } })
    const gw = oauthGateway(url)
    await expectUnavailable(await gw.fetch('/me', bearer('odd')))
    for (const mode of ['down', 'garbage']) {
      await control({ mode })
      await expectUnavailable(await gw.fetch('/me', bearer('t')))
    }
    await control({})
    await expectUnavailable(await oauthGateway(url, {}, { env: { INTROSPECTION_SECRET: 'wrong' } }).fetch('/me', bearer('t')))
    await expectUnavailable(await oauthGateway('http://127.0.0.1:9/introspect').fetch('/me', bearer('t')))
    expect(gw.logs.at(-1)).toMatchObject({ auth: { outcome: 'unavailable', code: 'ERR_INTROSPECTION_UNAVAILABLE' } })
  })

  it('a hanging endpoint: 503 once the timeout passes on the gateway clock', async () => {
    const { url } = await introspectingTenant({}, { delayMs: 10_000 })
    const clock = manualRuntime()
    const gw = oauthGateway(url, { introspection: { timeout: 1_500 } }, { runtime: clock })
    const pending = gw.fetch('/me', bearer('t'))
    await clock.until(() => clock.pendingTimers() > 0)
    expect(clock.nextTimerIn()).toBe(1_500)
    await clock.advance(1_500)
    await expectUnavailable(await pending)
  })

  it('an unset client secret variable: 503 on every request', async () => {
    const { url } = await introspectingTenant({})
    await expectUnavailable(await oauthGateway(url, {}, { env: { INTROSPECTION_SECRET: '' } }).fetch('/me', bearer('t')))
  })
})

describe('oauth config', () => {
  const problems = (introspection: Record<string, unknown>) =>
    configProblems({ routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'oauth', introspection: { clientId: 'gw', clientSecret: '${S}', ...introspection } }], action: { type: 'respond' } }] })

  it('the endpoint must be https (http only on loopback); the cache is at most 60 s', () => {
    expect(problems({ url: 'https://idp.example/introspect' })).toEqual([])
    expect(problems({ url: 'http://idp.example/introspect' })).toEqual(['routes[0].policies[0].introspection.url: must be an https URL (http only on 127.0.0.1 or localhost)'])
    expect(problems({ url: 'https://idp.example/introspect', cacheSeconds: 61 })[0]).toMatch(/^routes\[0\]\.policies\[0\]\.introspection\.cacheSeconds: /)
  })

  it('the client secret is redacted from the admin config view', async () => {
    const { url } = await introspectingTenant({})
    const gw = oauthGateway(url, { introspection: { clientSecret: 'literal-secret-value' } })
    const res = await gw.fetch('/_edgeway/config', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).not.toContain('literal-secret-value')
    expect(text).toContain(CLIENT[0])
  })
})

describe('oauth in the OpenAPI document', () => {
  it('is a bearer scheme with the route\'s scopes; 401 and 403 declared', () => {
    const policy = { type: 'oauth' as const, introspection: { url: 'https://idp.example/introspect', clientId: 'gw', clientSecret: '${S}' }, scopes: ['orders:read'] }
    const doc = buildOpenApi(loadConfig({ routes: [{ id: 'r', match: { path: '/r', methods: ['GET'] }, policies: [policy], action: { type: 'respond' } }] }), {})
    const op = doc.paths['/r'].get
    expect(op.security).toEqual([{ oauth: ['orders:read'] }])
    expect(doc.components.securitySchemes.oauth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(Object.keys(op.responses).sort()).toEqual(['200', '401', '403'])
    const any = buildOpenApi(loadConfig({ routes: [{ id: 'r', match: { path: '/r', methods: ['GET'] }, policies: [{ ...policy, scopes: ['a', 'b'], scopesMatch: 'any' }], action: { type: 'respond' } }] }), {})
    expect(any.paths['/r'].get.security).toEqual([{ oauth: ['a'] }, { oauth: ['b'] }])
  })
})
