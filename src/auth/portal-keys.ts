/**
 * @module
 * Self-service API keys in the developer portal: a signed-in developer (`./portal-session`)
 * creates, lists, rolls and revokes the keys of their own consumer, with the admin API's key code
 * (`./api-key-admin`: the same records, shown once, rotation with an overlap):
 *
 *   GET    <portal>/auth/session    { consumer, email, plan, approved, maxKeys } or 401
 *   GET    <portal>/keys            the developer's keys: prefix, name, status; never a key
 *   POST   <portal>/keys            { name? } -> 201, the key shown once
 *   POST   <portal>/keys/:id/roll   -> 201, a new key; the old one works `rollOverlapSeconds` more
 *   DELETE <portal>/keys/:id        revoked now
 *
 * A key of another consumer is a 404, as if it did not exist. Changes need the page's own origin
 * in `Origin` (a cross-site form or script can't make them, even where a browser would send the
 * cookie), and, with `requireApproval`, an approved consumer (`metadata.approved` not false).
 */
import type { Context, Hono } from 'hono'
import * as v from 'valibot'
import type { ConfigView } from '../core/config-view'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { GatewayError } from '../core/errors'
import { body, issue, revoke, rotate } from './api-key-admin'
import { consumerRecords, findById, publicView, statusOf } from './api-key-store'
import { consumerStoreOf, readConsumer, storeNamespace, type StoredConsumer } from './consumer-store'
import { portalSignInOf, type PortalSignIn } from './portal-schema'
import { portalSignIn, type PortalSignInFlow } from './portal-session'

const CreateBody = v.strictObject({ name: v.optional(v.pipe(v.string(), v.maxLength(200))) })

function namespace(env: Env, name: string): KVNamespace {
  const kv = env[name] as KVNamespace | undefined
  if (!kv || typeof kv.get !== 'function') throw new GatewayError('ERR_AUTH_UNAVAILABLE', { detail: `The KV binding "${name}" is not configured.` })
  return kv
}

/** The signed-in developer's consumer; a session whose consumer was deleted has ended. */
async function developer(c: Context<AppEnv>, flow: PortalSignInFlow, consumers: () => KVNamespace): Promise<StoredConsumer> {
  const session = await flow.session(c)
  const consumer = await readConsumer(consumers(), session.consumer)
  if (!consumer) throw new GatewayError('ERR_UNAUTHORIZED', { detail: 'Your developer account no longer exists: sign in again.' })
  return consumer
}

const approved = (consumer: StoredConsumer) => consumer.metadata?.approved !== false

/** A change: from the page's own origin, by an approved developer. */
async function changer(c: Context<AppEnv>, flow: PortalSignInFlow, consumers: () => KVNamespace): Promise<StoredConsumer> {
  if (c.req.header('origin') !== new URL(c.req.url).origin) throw new GatewayError('ERR_FORBIDDEN', { detail: 'Keys change only from the portal\'s own pages.' })
  const consumer = await developer(c, flow, consumers)
  if (!approved(consumer)) throw new GatewayError('ERR_FORBIDDEN', { detail: 'Your developer account is waiting for an admin\'s approval.' })
  return consumer
}

async function ownKey(kv: KVNamespace, consumer: StoredConsumer, id: string) {
  const record = /^[0-9a-f]{12}$/.test(id) ? await findById(kv, id) : null
  if (!record || record.consumer !== consumer.id) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: `No API key "${id}" of yours.` })
  return record
}

function mountKeys(app: Hono<AppEnv>, base: string, settings: PortalSignIn, flow: PortalSignInFlow, env: Env, consumers: () => KVNamespace): void {
  const keys = () => namespace(env, settings.kv)
  const noStore = { 'Cache-Control': 'no-store' }
  app.get(`${base}/auth/session`, async (c) => {
    const consumer = await developer(c, flow, consumers)
    const email = consumer.metadata?.email
    return c.json({ consumer: consumer.id, email, plan: consumer.plan, approved: approved(consumer), maxKeys: settings.maxKeys }, 200, noStore)
  })
  app.get(`${base}/keys`, async (c) => {
    const consumer = await developer(c, flow, consumers)
    const now = c.get('runtime').now()
    const records = await consumerRecords(keys(), consumer.id, 1000)
    return c.json({ keys: records.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((r) => publicView(r, now)) }, 200, noStore)
  })
  app.post(`${base}/keys`, async (c) => {
    const consumer = await changer(c, flow, consumers)
    const { name } = await body(c, CreateBody)
    const now = c.get('runtime').now()
    const live = (await consumerRecords(keys(), consumer.id, 1000)).filter((r) => statusOf(r, now) === 'active')
    if (live.length >= settings.maxKeys) throw new GatewayError('ERR_CONFLICT', { detail: `You have ${live.length} keys, the most allowed: revoke one first.` })
    return c.json(await issue(keys(), { consumer: consumer.id, name }, now), 201, noStore)
  })
  app.post(`${base}/keys/:id/roll`, async (c) => {
    const consumer = await changer(c, flow, consumers)
    const record = await ownKey(keys(), consumer, c.req.param('id'))
    return c.json(await rotate(keys(), record, settings.rollOverlapSeconds, c.get('runtime').now()), 201, noStore)
  })
  app.delete(`${base}/keys/:id`, async (c) => {
    const consumer = await changer(c, flow, consumers)
    const record = await ownKey(keys(), consumer, c.req.param('id'))
    return c.json(await revoke(keys(), record, c.get('runtime').now()), 200, noStore)
  })
}

/**
 * Mounts sign-in and self-service keys under the portal's path when `gateway.portal.signIn` is
 * set. Before the portal's pages (`openapi/serve.ts`), whose `<portal>/*` would answer first.
 */
export function developerAccounts(app: Hono<AppEnv>, config: ConfigView, env: Env): void {
  const portal = portalSignInOf(config)
  const store = consumerStoreOf(config)
  if (!portal || !store) return
  const base = portal.path
  const consumers = () => {
    try {
      return storeNamespace(store, env)
    } catch {
      throw new GatewayError('ERR_AUTH_UNAVAILABLE', { detail: `The KV binding "${store.kv}" is not configured.` })
    }
  }
  const flow = portalSignIn(base, portal.signIn, env, consumers)
  // Logged and counted under the name the portal's pages have (`openapi/serve.ts`), not as unrouted.
  const label = async (c: Context<AppEnv>, next: () => Promise<void>) => {
    c.get('log').routeId = '(portal)'
    await next()
  }
  for (const path of [`${base}/auth/*`, `${base}/keys`, `${base}/keys/*`]) app.use(path, label)
  app.get(`${base}/auth/login`, flow.login)
  app.get(`${base}/auth/callback`, flow.callback)
  app.post(`${base}/auth/logout`, flow.logout)
  mountKeys(app, base, portal.signIn, flow, env, consumers)
}
