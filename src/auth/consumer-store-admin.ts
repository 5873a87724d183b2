/**
 * @module
 * Admin endpoints for the consumer store (`gateway.consumerStore`, see `./consumer-store`):
 *
 *   POST   /consumers        { id, plan?, groups?, metadata?, issuer? } -> 201 (409 if it exists, in the store or the config)
 *   GET    /consumers?cursor=   stored consumers, 100 a page
 *   GET    /consumers/:id
 *   PUT    /consumers/:id    { plan?, groups?, metadata?, issuer? } -> the consumer, replaced (its API keys stay)
 *   DELETE /consumers/:id    its API keys stop working with it
 *
 * Bodies are bounded and strict (unknown fields 400), as for `/api-keys`. A plan must be one of
 * `plans`, a group one the config knows (`./consumer-groups`). Configured consumers are the
 * config's: they are never written here.
 */
import type { Context, Hono } from 'hono'
import * as v from 'valibot'
import type { AdminContext } from '../core/admin'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { Name } from '../core/schema'
import { MAX_METADATA_BYTES, badRequest, body } from './api-key-admin'
import { knownGroups } from './consumer-groups'
import { consumerStoreOf, deleteConsumer, listConsumers, readConsumer, storeNamespace, writeConsumer, type StoredConsumer } from './consumer-store'

const Fields = {
  plan: v.optional(Name),
  groups: v.optional(v.pipe(v.array(Name), v.maxLength(100))),
  metadata: v.optional(
    v.pipe(
      v.record(v.string(), v.unknown()),
      v.check((m) => new TextEncoder().encode(JSON.stringify(m)).byteLength <= MAX_METADATA_BYTES, `must be at most ${MAX_METADATA_BYTES} bytes as JSON`),
    ),
  ),
  issuer: v.optional(v.pipe(v.string(), v.url('must be a URL (the exact "iss" value of the issuer)'))),
}
const CreateBody = v.strictObject({ id: Name, ...Fields })
const UpdateBody = v.strictObject(Fields)
type ConsumerFields = v.InferOutput<typeof UpdateBody>

/** The store's namespace, or 404 when the config has none (the endpoints exist only with it). */
function storeOf(ctx: AdminContext): KVNamespace {
  const settings = consumerStoreOf(ctx.config)
  if (settings === undefined) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No consumer store is configured (gateway.consumerStore).' })
  try {
    return storeNamespace(settings, ctx.env)
  } catch {
    throw new GatewayError('ERR_AUTH_UNAVAILABLE', { detail: `The KV binding "${settings.kv}" is not configured.` })
  }
}

/** Refuses a plan or group the config doesn't know (own-property lookups: `constructor` is no plan). */
function checkReferences(ctx: AdminContext, fields: ConsumerFields): void {
  if (fields.plan !== undefined && !Object.hasOwn(ctx.config.plans, fields.plan)) {
    throw badRequest(`plan: unknown plan "${fields.plan}" (known: ${Object.keys(ctx.config.plans).join(', ') || 'none'})`)
  }
  const groups = knownGroups(ctx.config)
  fields.groups?.forEach((group, i) => {
    if (!groups.has(group)) throw badRequest(`groups.${i}: unknown group "${group}" (known: ${[...groups].join(', ') || 'none'})`)
  })
}

async function existing(kv: KVNamespace, id: string): Promise<StoredConsumer> {
  const consumer = v.is(Name, id) ? await readConsumer(kv, id) : null
  if (!consumer) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: `No stored consumer "${id}".` })
  return consumer
}

/** `POST /consumers` */
async function createConsumer(c: Context<AppEnv>, ctx: AdminContext) {
  const kv = storeOf(ctx)
  const { id, ...fields } = await body(c, CreateBody)
  checkReferences(ctx, fields)
  if (Object.hasOwn(ctx.config.consumers, id)) throw new GatewayError('ERR_CONFLICT', { detail: `Consumer "${id}" is in the config; edit it there.` })
  if ((await readConsumer(kv, id)) !== null) throw new GatewayError('ERR_CONFLICT', { detail: `Consumer "${id}" already exists; PUT /consumers/${id} edits it.` })
  const now = new Date(c.get('runtime').now()).toISOString()
  const consumer: StoredConsumer = { id, ...fields, createdAt: now, updatedAt: now }
  await writeConsumer(kv, consumer)
  return c.json(consumer, 201)
}

/** `PUT /consumers/:id`: the fields given replace the stored ones; those left out are removed. */
async function replaceConsumer(c: Context<AppEnv, '/consumers/:id'>, ctx: AdminContext) {
  const kv = storeOf(ctx)
  const old = await existing(kv, c.req.param('id'))
  const fields = await body(c, UpdateBody)
  checkReferences(ctx, fields)
  const consumer: StoredConsumer = { id: old.id, ...fields, createdAt: old.createdAt, updatedAt: new Date(c.get('runtime').now()).toISOString() }
  await writeConsumer(kv, consumer)
  return c.json(consumer)
}

export function consumerStoreAdmin(app: Hono<AppEnv>, ctx: AdminContext): void {
  app.post('/consumers', async (c) => createConsumer(c, ctx))
  app.get('/consumers', async (c) => c.json(await listConsumers(storeOf(ctx), 100, c.req.query('cursor'))))
  app.get('/consumers/:id', async (c) => c.json(await existing(storeOf(ctx), c.req.param('id'))))
  app.put('/consumers/:id', async (c) => replaceConsumer(c, ctx))
  app.delete('/consumers/:id', async (c) => {
    const kv = storeOf(ctx)
    const consumer = await existing(kv, c.req.param('id'))
    await deleteConsumer(kv, consumer.id)
    return c.json({ deleted: consumer.id })
  })
}
