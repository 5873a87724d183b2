/**
 * `acl`: routes allowed or denied by consumer id, group, plan or a token claim, for consumers an
 * API key (config secrets) or a real signed token (test issuer JWKS) established. Refusals are 403
 * problem+json; config mistakes are named at their path.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { loadConfig } from '../../src/config/parse'
import { buildOpenApi } from '../../src/openapi/document'
import { configProblems } from '../support/config'
import { sha256Hex, testGateway } from '../support/gateway'
import { bearer, newKey, sign, Tenant, type TestKey } from './tokens'

type Acl = { allow?: Record<string, unknown>; deny?: Record<string, unknown> }

const CONSUMERS = {
  ada: { plan: 'pro', groups: ['staff', 'ops'], apiKeySecrets: ['ADA_KEY'] },
  bob: { plan: 'free', groups: ['partners'], apiKeySecrets: ['BOB_KEY'] },
  eve: { plan: 'free', apiKeySecrets: ['EVE_KEY'] },
}
const KEYS = { ada: 'ada-key-0123456789', bob: 'bob-key-0123456789', eve: 'eve-key-0123456789' }

async function keyEnv() {
  return { ADA_KEY: await sha256Hex(KEYS.ada), BOB_KEY: await sha256Hex(KEYS.bob), EVE_KEY: await sha256Hex(KEYS.eve) }
}

function aclConfig(acl: Acl, auth: Record<string, unknown>): GatewayConfigInput {
  return {
    plans: { pro: {}, free: {} },
    consumers: CONSUMERS,
    routes: [{ id: 'r', match: { path: '/r' }, policies: [auth as never, { type: 'acl', ...acl }], action: { type: 'respond', body: { who: '{consumer.id}' } } }],
  }
}

async function keyGateway(acl: Acl) {
  return testGateway(aclConfig(acl, { type: 'api-key' }), await keyEnv())
}

const withKey = (who: keyof typeof KEYS) => ({ headers: { 'x-api-key': KEYS[who] } })

async function expectForbidden(res: Response) {
  expect(res.status).toBe(403)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  // Which rule refused is for the log only.
  expect(await res.json()).toMatchObject({ code: 'ERR_FORBIDDEN', status: 403, detail: 'The consumer may not use this route.' })
}

describe('acl with API-key consumers', () => {
  it('allows by group: a member passes, others get 403 and the log says why', async () => {
    const gw = await keyGateway({ allow: { groups: ['staff'] } })
    const ok = await gw.fetch('/r', withKey('ada'))
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ who: 'ada' })
    expect(gw.logs.at(-1)).toMatchObject({ acl: { outcome: 'allowed', rule: 'groups' } })
    await expectForbidden(await gw.fetch('/r', withKey('bob')))
    expect(gw.logs.at(-1)).toMatchObject({ consumer: 'bob', acl: { outcome: 'not-allowed' }, status: 403 })
  })

  it('allows by consumer id or plan, any entry is enough', async () => {
    const gw = await keyGateway({ allow: { consumers: ['bob'], plans: ['pro'] } })
    expect((await gw.fetch('/r', withKey('ada'))).status).toBe(200)
    expect((await gw.fetch('/r', withKey('bob'))).status).toBe(200)
    await expectForbidden(await gw.fetch('/r', withKey('eve')))
  })

  it('deny wins over allow; with deny only, everyone else passes', async () => {
    const both = await keyGateway({ allow: { plans: ['pro', 'free'] }, deny: { groups: ['partners'] } })
    expect((await both.fetch('/r', withKey('ada'))).status).toBe(200)
    await expectForbidden(await both.fetch('/r', withKey('bob')))
    expect(both.logs.at(-1)).toMatchObject({ acl: { outcome: 'denied', rule: 'groups' } })
    const denyOnly = await keyGateway({ deny: { consumers: ['eve'] } })
    expect((await denyOnly.fetch('/r', withKey('bob'))).status).toBe(200)
    await expectForbidden(await denyOnly.fetch('/r', withKey('eve')))
  })

  it('a claim rule never matches an API key (it has no claims), and authentication still comes first', async () => {
    const gw = await keyGateway({ allow: { claims: { roles: 'admin' } } })
    await expectForbidden(await gw.fetch('/r', withKey('ada')))
    // No key at all: the api-key policy's 401, not the acl's 403.
    expect((await gw.fetch('/r')).status).toBe(401)
  })
})

describe('acl with token consumers', () => {
  async function tokenGateway(acl: Acl): Promise<{ gw: ReturnType<typeof testGateway>; token: (claims: Record<string, unknown>) => Promise<string> }> {
    const tenant = new Tenant()
    const key: TestKey = await newKey('ES256')
    await tenant.publish(key)
    const gw = testGateway(aclConfig(acl, { type: 'jwt', issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] }))
    return { gw, token: (claims) => sign(key, tenant.issuer, claims) }
  }

  it('allows by claim value: a list containing it, or the value itself; not a look-alike', async () => {
    const { gw, token } = await tokenGateway({ allow: { claims: { roles: 'admin', 'org.tier': ['gold', 'platinum'] } } })
    expect((await gw.fetch('/r', bearer(await token({ sub: 'u1', roles: ['reader', 'admin'] })))).status).toBe(200)
    expect((await gw.fetch('/r', bearer(await token({ sub: 'u2', roles: 'admin' })))).status).toBe(200)
    expect((await gw.fetch('/r', bearer(await token({ sub: 'u3', org: { tier: 'gold' } })))).status).toBe(200)
    // Attacks on the match: a substring, a differently cased value, a nested list, an object.
    for (const roles of ['administrator', 'Admin', [['admin']], { admin: true }, 'reader admin']) {
      await expectForbidden(await gw.fetch('/r', bearer(await token({ sub: 'u4', roles }))))
    }
  })

  it('a token consumer listed in the config gets its groups and plan; an unlisted subject has none', async () => {
    const { gw, token } = await tokenGateway({ allow: { groups: ['ops'] } })
    expect((await gw.fetch('/r', bearer(await token({ sub: 'ada' })))).status).toBe(200)
    // A token can't claim a group: groups come from the config, never from the token.
    await expectForbidden(await gw.fetch('/r', bearer(await token({ sub: 'stranger', groups: ['ops'] }))))
  })

  it('an unlisted subject is allowed by id only with its issuer (another issuer may issue the same sub); deny takes the plain id too', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const jwt = { type: 'jwt', issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] }
    const token = await sign(key, tenant.issuer, { sub: 'stranger' })
    await expectForbidden(await testGateway(aclConfig({ allow: { consumers: ['stranger'] } }, jwt)).fetch('/r', bearer(token)))
    expect((await testGateway(aclConfig({ allow: { consumers: [`stranger@${tenant.issuer}`] } }, jwt)).fetch('/r', bearer(token))).status).toBe(200)
    await expectForbidden(await testGateway(aclConfig({ deny: { consumers: ['stranger'] } }, jwt)).fetch('/r', bearer(token)))
    // A listed consumer is one identity whichever issuer: its plain id.
    expect((await testGateway(aclConfig({ allow: { consumers: ['ada'] } }, jwt)).fetch('/r', bearer(await sign(key, tenant.issuer, { sub: 'ada' })))).status).toBe(200)
  })

  it('a token without a consumer (requireConsumer false) is refused by an allow list', async () => {
    const tenant = new Tenant()
    const key = await newKey('ES256')
    await tenant.publish(key)
    const jwt = { type: 'jwt', requireConsumer: false, issuers: [{ issuer: tenant.issuer, jwksUrl: tenant.jwksUrl, audience: 'api' }] }
    const gw = testGateway(aclConfig({ allow: { claims: { roles: 'admin' } } }, jwt))
    await expectForbidden(await gw.fetch('/r', bearer(await sign(key, tenant.issuer, { sub: undefined, roles: ['admin'] }))))
    expect(gw.logs.at(-1)).toMatchObject({ acl: { outcome: 'anonymous' } })
  })
})

describe('acl config', () => {
  const problems = (acl: Record<string, unknown>, extra: { policies?: unknown[]; routePolicies?: unknown[] } = {}) =>
    configProblems({
      plans: { pro: {} },
      consumers: { ada: { plan: 'pro', groups: ['staff'] } },
      policies: extra.policies ?? [],
      routes: [{ id: 'r', match: { path: '/' }, policies: extra.routePolicies ?? [{ type: 'api-key', kv: 'API_KEYS' }, { type: 'acl', ...acl }], action: { type: 'respond' } }],
    })

  it('accepts known groups and plans', () => {
    expect(problems({ allow: { groups: ['staff'], plans: ['pro'], consumers: ['anyone'], claims: { 'realm_access.roles': 'admin' } } })).toEqual([])
  })

  it('refuses unknown groups and plans (inherited names included), empty rules and a missing allow/deny', () => {
    expect(problems({ allow: { groups: ['staf', 'constructor'], plans: ['toString'] } })).toEqual([
      'routes[0].policies[1].allow.groups[0]: unknown group "staf" (known: staff)',
      'routes[0].policies[1].allow.groups[1]: unknown group "constructor" (known: staff)',
      'routes[0].policies[1].allow.plans[0]: unknown plan "toString" (known: pro)',
    ])
    expect(problems({ deny: {} })).toEqual(['routes[0].policies[1].deny: names nothing: give "consumers", "groups", "plans" or "claims"'])
    expect(problems({})).toEqual(['routes[0].policies[1]: needs "allow" or "deny"'])
    expect(problems({ allow: { roles: ['x'] } })[0]).toMatch(/^routes\[0\]\.policies\[1\]\.allow\.roles: /)
    expect(problems({ allow: { claims: { 'a..b': 'x' } } })).toEqual(['routes[0].policies[1].allow.claims["a..b"]: invalid path "a..b": unexpected "."'])
  })

  it('refuses an acl with no authentication before it', () => {
    const message = 'no authentication policy (jwt, api-key, ...) runs before it, so there is no consumer to check'
    expect(problems({}, { routePolicies: [{ type: 'acl', allow: { plans: ['pro'] } }, { type: 'api-key', kv: 'API_KEYS' }] })).toEqual([`routes[0].policies[0]: ${message}`])
    // A global acl runs before every route's own policies.
    expect(problems({}, { policies: [{ type: 'acl', allow: { plans: ['pro'] } }], routePolicies: [{ type: 'api-key', kv: 'API_KEYS' }] })).toEqual([`policies[0]: ${message}`])
    // A global authentication covers a route's acl.
    expect(problems({}, { policies: [{ type: 'api-key', kv: 'API_KEYS' }], routePolicies: [{ type: 'acl', allow: { plans: ['pro'] } }] })).toEqual([])
  })
})

describe('acl in the OpenAPI document', () => {
  it('declares the 403 and the groups and plans let in, never the consumer ids, claims or deny list', () => {
    const acl = { type: 'acl' as const, allow: { groups: ['staff'], plans: ['pro'], consumers: ['ada'], claims: { roles: 'admin' } }, deny: { groups: ['partners'] } }
    const config = aclConfig({}, { type: 'api-key', kv: 'API_KEYS' })
    config.routes[0]!.policies = [{ type: 'api-key', kv: 'API_KEYS' }, acl]
    const op = buildOpenApi(loadConfig(config), {}).paths['/r'].get
    expect(Object.keys(op.responses).sort()).toEqual(['200', '401', '403'])
    expect(op['x-edgeway-access']).toEqual({ groups: ['staff'], plans: ['pro'] })
    expect(JSON.stringify(op)).not.toMatch(/ada|admin|partners/)
  })
})
