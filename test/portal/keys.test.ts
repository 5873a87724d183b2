/**
 * Self-service API keys: a signed-in developer creates (shown once), lists, rolls and revokes the
 * keys of their own consumer, and those keys open `api-key` routes as that consumer. Changes need
 * the portal's own origin; another developer's key is not found; `requireApproval` holds key
 * creation until an admin approves; the config is checked with field-named messages.
 */
import { describe, expect, it } from 'vitest'
import { configProblems } from '../support/config'
import type { TestGateway } from '../support/gateway'
import { ADMIN, newTenant, portalConfig, portalGateway, SAME_ORIGIN, signIn } from './helpers'

type Key = { id: string; key?: string; prefix: string; name?: string; status: string; consumer: string; hash?: string }

const json = async <T>(res: Response, status: number): Promise<T> => {
  expect(res.status, await res.clone().text()).toBe(status)
  return (await res.json()) as T
}
const asDeveloper = (gw: TestGateway, cookie: string, method: string, path: string, body?: unknown, headers: Record<string, string> = SAME_ORIGIN) =>
  gw.fetch(`/portal${path}`, { method, headers: { ...headers, cookie }, ...(body !== undefined && { body: JSON.stringify(body) }) })
const callPartner = async (gw: TestGateway, key: string) => {
  const res = await gw.fetch('/partner', { headers: { 'x-api-key': key } })
  return res.status === 200 ? ((await res.json()) as { consumer: string }).consumer : res.status
}

describe('self-service keys', () => {
  it('create (shown once), list, roll and revoke; the keys are the developer\'s consumer', async () => {
    const tenant = newTenant()
    const gw = portalGateway(tenant)
    const cookie = await signIn(gw, tenant)
    const { consumer } = await json<{ consumer: string }>(await asDeveloper(gw, cookie, 'GET', '/auth/session'), 200)
    const created = await json<Key>(await asDeveloper(gw, cookie, 'POST', '/keys', { name: 'ci' }), 201)
    expect(created).toMatchObject({ consumer, name: 'ci', status: 'active' })
    expect(created.key).toMatch(/^ewk_[0-9a-f]{12}_/)
    expect(await callPartner(gw, created.key!)).toBe(consumer)
    const listed = await json<{ keys: Key[] }>(await asDeveloper(gw, cookie, 'GET', '/keys'), 200)
    expect(listed.keys.map((k) => [k.id, k.status])).toEqual([[created.id, 'active']])
    expect(listed.keys[0]).not.toHaveProperty('key')
    expect(listed.keys[0]).not.toHaveProperty('hash')

    const rolled = await json<Key & { previous: Key }>(await asDeveloper(gw, cookie, 'POST', `/keys/${created.id}/roll`), 201)
    expect(rolled.key).not.toBe(created.key)
    expect(rolled.previous).toMatchObject({ id: created.id, rotatedTo: rolled.id })
    // The old key works through the overlap, beside its replacement.
    expect(await callPartner(gw, rolled.key!)).toBe(consumer)
    expect(await callPartner(gw, created.key!)).toBe(consumer)

    const revoked = await json<Key>(await asDeveloper(gw, cookie, 'DELETE', `/keys/${rolled.id}`), 200)
    expect(revoked.status).toBe('revoked')
    expect(await callPartner(gw, rolled.key!)).toBe(401)
    const after = await json<{ keys: Key[] }>(await asDeveloper(gw, cookie, 'GET', '/keys'), 200)
    expect(after.keys.map((k) => k.status).sort()).toEqual(['active', 'revoked'])
  })

  it('another developer\'s keys are not found, and changes need the portal\'s own origin', async () => {
    const tenant = newTenant()
    const gw = portalGateway(tenant)
    const mine = await signIn(gw, tenant)
    const theirs = await signIn(gw, tenant)
    const key = await json<Key>(await asDeveloper(gw, mine, 'POST', '/keys', {}), 201)
    expect((await asDeveloper(gw, theirs, 'DELETE', `/keys/${key.id}`)).status).toBe(404)
    expect((await asDeveloper(gw, theirs, 'POST', `/keys/${key.id}/roll`)).status).toBe(404)
    expect((await json<{ keys: Key[] }>(await asDeveloper(gw, theirs, 'GET', '/keys'), 200)).keys).toEqual([])
    // A cross-site page (or no Origin at all) can't change keys, even with the cookie.
    expect((await asDeveloper(gw, mine, 'POST', '/keys', {}, { origin: 'https://evil.example', 'content-type': 'application/json' })).status).toBe(403)
    expect((await asDeveloper(gw, mine, 'DELETE', `/keys/${key.id}`, undefined, {})).status).toBe(403)
    expect(await callPartner(gw, key.key!)).not.toBe(401)
  })

  it('at most maxKeys live keys', async () => {
    const tenant = newTenant()
    const gw = portalGateway(tenant, { maxKeys: 1 })
    const cookie = await signIn(gw, tenant)
    const first = await json<Key>(await asDeveloper(gw, cookie, 'POST', '/keys', {}), 201)
    expect((await asDeveloper(gw, cookie, 'POST', '/keys', {})).status).toBe(409)
    await json(await asDeveloper(gw, cookie, 'DELETE', `/keys/${first.id}`), 200)
    await json(await asDeveloper(gw, cookie, 'POST', '/keys', {}), 201)
  })

  it('with requireApproval, keys wait for an admin to approve the developer', async () => {
    const tenant = newTenant()
    const gw = portalGateway(tenant, { requireApproval: true })
    const cookie = await signIn(gw, tenant, { sub: 'grace', email: 'grace@example.com' })
    const me = await json<{ consumer: string; approved: boolean }>(await asDeveloper(gw, cookie, 'GET', '/auth/session'), 200)
    expect(me.approved).toBe(false)
    const refused = await asDeveloper(gw, cookie, 'POST', '/keys', {})
    expect(refused.status).toBe(403)
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/approval/)
    const approve = await gw.fetch(`/_edgeway/consumers/${me.consumer}`, { method: 'PUT', headers: ADMIN, body: JSON.stringify({ plan: 'free', metadata: { subject: 'grace', approved: true } }) })
    expect(approve.status).toBe(200)
    await json(await asDeveloper(gw, cookie, 'POST', '/keys', {}), 201)
  })

  it('config problems name their field', () => {
    const tenant = newTenant()
    const withoutStore = portalConfig(tenant)
    delete (withoutStore.gateway as Record<string, unknown>).consumerStore
    expect(configProblems(withoutStore)).toContain('gateway.portal.signIn: developers become consumers in the consumer store: set "gateway.consumerStore"')
    expect(configProblems(portalConfig(tenant, { kv: 'OTHER_KV', plan: 'gold', scopes: ['email'], issuer: 'http://login.example' }))).toEqual([
      'gateway.portal.signIn.issuer: must be an https URL (http only on 127.0.0.1 or localhost)',
      'gateway.portal.signIn.scopes: must include "openid"',
      'gateway.portal.signIn.kv: no api-key policy reads "OTHER_KV" (known: API_KEYS): its keys would work nowhere',
      'gateway.portal.signIn.plan: unknown plan "gold" (known: free)',
    ])
    expect(configProblems(portalConfig(tenant, { sessionHours: 0, clientId: '' })).join('\n')).toMatch(/gateway\.portal\.signIn\.clientId: .*\n.*gateway\.portal\.signIn\.sessionHours: /)
    expect(configProblems(portalConfig(tenant, { unknown: 1 }))).toEqual([expect.stringMatching(/^gateway\.portal\.signIn\.unknown: /)])
  })
})
