/**
 * @module
 * Admin endpoints for API keys kept in KV (the namespace an `api-key` policy names in `kv`):
 *
 *   POST   /api-keys                 { consumer, name?, expiresAt?, metadata? } -> 201, the key shown once
 *   GET    /api-keys?consumer=&cursor=  prefixes, status and metadata; never keys or hashes
 *   GET    /api-keys/:id
 *   POST   /api-keys/:id/rotate      { overlapSeconds? } -> 201 a new key (same expiry); the old one expires after the overlap
 *   POST   /api-keys/:id/expire      { at } -> the key stops working at that time
 *   DELETE /api-keys/:id             revoke now
 *
 * With several KV namespaces in use, `?store=BINDING` picks one.
 */
import type { Context, Hono } from 'hono'
import * as v from 'valibot'
import { boundedBodyText, onFirstUse, type AdminContext } from '../core/admin'
import type { ConfigView } from '../core/config-view'
import { Name } from '../core/schema'
import type { ApiKeyOptions } from './schema'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { consumerStoreOf, readConsumer, storeNamespace } from './consumer-store'
import { findById, listRecords, newApiKey, publicView, saveRecord, sha256, statusOf, toHex, type ApiKeyRecord } from './api-key-store'

/** Key metadata is returned by every list of keys: a few KiB each keeps a page of 100 small. */
export const MAX_METADATA_BYTES = 4096
/** A request body: the metadata's cap, plus room for the other fields. */
const MAX_BODY_BYTES = 8192

const IsoTime = v.pipe(v.string(), v.isoTimestamp('must be an ISO 8601 time with a zone, like 2027-01-01T00:00:00Z'))
const CreateBody = v.strictObject({
  consumer: v.string(),
  name: v.optional(v.pipe(v.string(), v.maxLength(200))),
  expiresAt: v.optional(IsoTime),
  metadata: v.optional(
    v.pipe(
      v.record(v.string(), v.unknown()),
      v.check((m) => new TextEncoder().encode(JSON.stringify(m)).byteLength <= MAX_METADATA_BYTES, `must be at most ${MAX_METADATA_BYTES} bytes as JSON`),
    ),
  ),
})
const RotateBody = v.strictObject({ overlapSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2_592_000)), 86_400) })
const ExpireBody = v.strictObject({ at: IsoTime })

/** KV bindings named by api-key policies anywhere in the config. */
export function keyStores(config: ConfigView): string[] {
  const policies = [...config.policies, ...config.routes.flatMap((route) => route.policies)].filter((p) => p.type === 'api-key') as ApiKeyOptions[]
  return [...new Set(policies.flatMap((p) => (p.kv !== undefined ? [p.kv] : [])))]
}

export function badRequest(detail: string): GatewayError {
  return new GatewayError('ERR_BAD_REQUEST', { detail })
}

/** An admin request's JSON body, bounded and checked by `schema` (strict: unknown fields are a 400 naming them). */
export async function body<T extends v.GenericSchema>(c: Context<AppEnv>, schema: T, empty: unknown = undefined): Promise<v.InferOutput<T>> {
  let input: unknown = empty
  const text = await boundedBodyText(c, MAX_BODY_BYTES)
  if (text.trim() !== '') {
    try {
      input = JSON.parse(text)
    } catch {
      throw badRequest('The body is not valid JSON.')
    }
  }
  const result = v.safeParse(schema, input ?? {})
  if (!result.success) {
    const issue = result.issues[0]
    const path = issue.path?.map((item) => String(item.key)).join('.') ?? '(body)'
    throw badRequest(`${path}: ${issue.message}`)
  }
  return result.output
}

/**
 * The key store a request is about: the only KV namespace the config's api-key policies name, or
 * the one `?store=` picks among several.
 */
function pickStore(c: Context<AppEnv>, stores: string[], env: AdminContext['env']): KVNamespace {
  const asked = c.req.query('store')
  if (stores.length === 0) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No api-key policy names a KV namespace ("kv").' })
  if (asked === undefined && stores.length > 1) throw badRequest(`Several key stores are in use; add ?store= (one of: ${stores.join(', ')}).`)
  const name = asked ?? stores[0]!
  if (!stores.includes(name)) throw badRequest(`Unknown key store "${name}" (known: ${stores.join(', ')}).`)
  const kv = env[name] as KVNamespace | undefined
  if (!kv) throw new GatewayError('ERR_AUTH_UNAVAILABLE', { detail: `The KV binding "${name}" is not configured.` })
  return kv
}

async function existing(kv: KVNamespace, id: string): Promise<ApiKeyRecord> {
  const record = /^[0-9a-f]{12}$/.test(id) ? await findById(kv, id) : null
  if (!record) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: `No API key "${id}".` })
  return record
}

/** Creates and stores a new key; the key itself is in the answer, and nowhere else, once. */
export async function issue(kv: KVNamespace, fields: Omit<ApiKeyRecord, 'id' | 'prefix' | 'hash' | 'createdAt'>, now: number) {
  const { id, key, prefix } = newApiKey()
  const record: ApiKeyRecord = { id, prefix, ...fields, createdAt: new Date(now).toISOString(), hash: toHex(await sha256(key)) }
  await saveRecord(kv, record)
  return { ...publicView(record, now), key }
}

/** Whether `id` is a configured consumer or one in the consumer store (read directly, not cached). */
async function consumerExists(ctx: AdminContext, id: string): Promise<boolean> {
  if (Object.hasOwn(ctx.config.consumers, id)) return true
  const settings = consumerStoreOf(ctx.config)
  if (settings === undefined || !v.is(Name, id)) return false
  try {
    return (await readConsumer(storeNamespace(settings, ctx.env), id)) !== null
  } catch {
    throw new GatewayError('ERR_AUTH_UNAVAILABLE', { detail: 'The consumer store cannot be read right now.' })
  }
}

/** `POST /api-keys` */
async function createKey(c: Context<AppEnv>, kv: KVNamespace, ctx: AdminContext) {
  const input = await body(c, CreateBody)
  if (!(await consumerExists(ctx, input.consumer))) {
    const stored = consumerStoreOf(ctx.config) ? ', or one in the consumer store' : ''
    throw badRequest(`consumer: unknown consumer "${input.consumer}" (known: ${Object.keys(ctx.config.consumers).join(', ') || 'none'}${stored})`)
  }
  const now = c.get('runtime').now()
  // A key created expired would be a credential that never works: surely not what was meant.
  if (input.expiresAt !== undefined && Date.parse(input.expiresAt) <= now) throw badRequest(`expiresAt: ${input.expiresAt} is not in the future.`)
  return c.json(await issue(kv, input, now), 201, { 'Cache-Control': 'no-store' })
}

/** `GET /api-keys?consumer=&cursor=` */
async function listKeys(c: Context<AppEnv>, kv: KVNamespace) {
  const consumer = c.req.query('consumer')
  const page = await listRecords(kv, 100, c.req.query('cursor'))
  const keys = page.records.filter((r) => consumer === undefined || r.consumer === consumer).map((record) => publicView(record, c.get('runtime').now()))
  return c.json({ keys, ...(page.cursor !== undefined && { cursor: page.cursor }) })
}

/**
 * A new key with the same expiry; the old one expires after the overlap. Shared by the admin API
 * and the portal's self-service keys.
 */
export async function rotate(kv: KVNamespace, old: ApiKeyRecord, overlapSeconds: number, now: number) {
  if (old.revokedAt !== undefined) throw badRequest('A revoked key cannot be rotated.')
  // Its replacement would inherit the past expiry and be dead on arrival.
  if (statusOf(old, now) === 'expired') throw badRequest('An expired key cannot be rotated; create a new key.')
  const fresh = await issue(kv, { consumer: old.consumer, name: old.name, metadata: old.metadata, expiresAt: old.expiresAt, rotatedFrom: old.id }, now)
  const overlapEnd = now + overlapSeconds * 1000
  const expiresAt = old.expiresAt !== undefined && Date.parse(old.expiresAt) < overlapEnd ? old.expiresAt : new Date(overlapEnd).toISOString()
  const updated = { ...old, expiresAt, rotatedTo: fresh.id }
  await saveRecord(kv, updated)
  return { ...fresh, previous: publicView(updated, now) }
}

/** `POST /api-keys/:id/rotate` */
async function rotateKey(c: Context<AppEnv, '/api-keys/:id/rotate'>, kv: KVNamespace) {
  const old = await existing(kv, c.req.param('id'))
  const { overlapSeconds } = await body(c, RotateBody)
  return c.json(await rotate(kv, old, overlapSeconds, c.get('runtime').now()), 201, { 'Cache-Control': 'no-store' })
}

/** `POST /api-keys/:id/expire` */
async function expireKey(c: Context<AppEnv, '/api-keys/:id/expire'>, kv: KVNamespace) {
  const record = await existing(kv, c.req.param('id'))
  // A revoked key stays revoked: an expiry would change its record and say nothing true.
  if (record.revokedAt !== undefined) throw new GatewayError('ERR_CONFLICT', { detail: `API key "${record.id}" is revoked; it cannot be given an expiry.` })
  const { at } = await body(c, ExpireBody)
  const updated = { ...record, expiresAt: new Date(at).toISOString() }
  await saveRecord(kv, updated)
  return c.json(publicView(updated, c.get('runtime').now()))
}

/** Revoked now (or kept as revoked when it already was). */
export async function revoke(kv: KVNamespace, record: ApiKeyRecord, now: number) {
  const updated = { ...record, revokedAt: record.revokedAt ?? new Date(now).toISOString() }
  await saveRecord(kv, updated)
  return publicView(updated, now)
}

/** `DELETE /api-keys/:id` */
async function revokeKey(c: Context<AppEnv, '/api-keys/:id'>, kv: KVNamespace) {
  return c.json(await revoke(kv, await existing(kv, c.req.param('id')), c.get('runtime').now()))
}

export function apiKeyAdmin(app: Hono<AppEnv>, ctx: AdminContext): void {
  const stores = onFirstUse(() => keyStores(ctx.config))
  const store = (c: Context<AppEnv>) => pickStore(c, stores(), ctx.env)
  app.post('/api-keys', async (c) => createKey(c, store(c), ctx))
  app.get('/api-keys', async (c) => listKeys(c, store(c)))
  app.get('/api-keys/:id', async (c) => c.json(publicView(await existing(store(c), c.req.param('id')), c.get('runtime').now())))
  app.post('/api-keys/:id/rotate', async (c) => rotateKey(c, store(c)))
  app.post('/api-keys/:id/expire', async (c) => expireKey(c, store(c)))
  app.delete('/api-keys/:id', async (c) => revokeKey(c, store(c)))
}
