/**
 * @module
 * API keys stored in KV. A key is shown once, when it is created; only its SHA-256 hash is stored.
 * Two entries per key, written together by the admin API:
 *
 *   apikey:hash:<sha256 hex>   the record, read on every request (one KV read, by hash)
 *   apikey:id:<id>             the same record, for the admin API (list, rotate, expire, revoke)
 *   apikey:consumer:<c>:<id>   empty: which keys consumer <c> has, for the portal's self-service
 *                              keys (a list by prefix instead of reading every key)
 *
 * Looking a key up by its hash needs no constant-time compare: finding an entry means knowing a
 * SHA-256 preimage. Keys look like `ewk_<id>_<secret>`; `ewk_<id>` is the displayable prefix.
 * KV is eventually consistent, and a read is cached at the edge for `READ_CACHE_SECONDS`: a
 * revocation reaches every location within about two minutes (the read cache plus propagation).
 */
import { sha256, toHex } from '../core/encoding'
import { systemRuntime } from '../core/runtime'

export type ApiKeyRecord = {
  id: string
  consumer: string
  prefix: string
  name?: string | undefined
  metadata?: Record<string, unknown> | undefined
  createdAt: string
  expiresAt?: string | undefined
  revokedAt?: string | undefined
  /** Set on a key replaced by rotation, and on its replacement. */
  rotatedTo?: string | undefined
  rotatedFrom?: string | undefined
  hash: string
}

export type ApiKeyStatus = 'active' | 'expired' | 'revoked'
export type PublicApiKey = Omit<ApiKeyRecord, 'hash'> & { status: ApiKeyStatus }

const HASH_PREFIX = 'apikey:hash:'
const ID_PREFIX = 'apikey:id:'
const CONSUMER_PREFIX = 'apikey:consumer:'
/** How long a request's KV read may be served from the edge cache (KV's minimum). */
const READ_CACHE_SECONDS = 60

export { sha256, toHex }

/** Parses a 64-digit hex SHA-256 hash; undefined when it isn't one. */
export function fromHex(text: string): Uint8Array | undefined {
  const clean = text.trim().toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(clean)) return undefined
  return new Uint8Array(clean.match(/../g)!.map((pair) => parseInt(pair, 16)))
}

export function newApiKey(): { id: string; key: string; prefix: string } {
  const id = toHex(crypto.getRandomValues(new Uint8Array(6)))
  const secret = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
  return { id, key: `ewk_${id}_${secret}`, prefix: `ewk_${id}` }
}

/** `now`: the caller's runtime's `now()` (the default is for callers outside a request). */
export function statusOf(record: ApiKeyRecord, now = systemRuntime.now()): ApiKeyStatus {
  if (record.revokedAt !== undefined) return 'revoked'
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= now) return 'expired'
  return 'active'
}

export function publicView(record: ApiKeyRecord, now = systemRuntime.now()): PublicApiKey {
  const { hash: _hash, ...rest } = record
  return { ...rest, status: statusOf(record, now) }
}

export async function findByHash(kv: KVNamespace, hash: Uint8Array): Promise<ApiKeyRecord | null> {
  return kv.get<ApiKeyRecord>(HASH_PREFIX + toHex(hash), { type: 'json', cacheTtl: READ_CACHE_SECONDS })
}

export async function findById(kv: KVNamespace, id: string): Promise<ApiKeyRecord | null> {
  return kv.get<ApiKeyRecord>(ID_PREFIX + id, { type: 'json' })
}

export async function saveRecord(kv: KVNamespace, record: ApiKeyRecord): Promise<void> {
  const text = JSON.stringify(record)
  await Promise.all([kv.put(HASH_PREFIX + record.hash, text), kv.put(ID_PREFIX + record.id, text), kv.put(`${CONSUMER_PREFIX}${record.consumer}:${record.id}`, '')])
}

/** The keys of one consumer (at most `limit`), through the consumer's index entries. */
export async function consumerRecords(kv: KVNamespace, consumer: string, limit: number): Promise<ApiKeyRecord[]> {
  const page = await kv.list({ prefix: `${CONSUMER_PREFIX}${consumer}:`, limit })
  const records = await Promise.all(page.keys.map((key) => findById(kv, key.name.slice(key.name.lastIndexOf(':') + 1))))
  return records.filter((r): r is ApiKeyRecord => r !== null && r.consumer === consumer)
}

/** One page of records (at most `limit`), and the cursor of the next page. */
export async function listRecords(kv: KVNamespace, limit: number, cursor?: string): Promise<{ records: ApiKeyRecord[]; cursor?: string }> {
  const page = await kv.list({ prefix: ID_PREFIX, limit, ...(cursor ? { cursor } : {}) })
  const records = await Promise.all(page.keys.map((key) => kv.get<ApiKeyRecord>(key.name, { type: 'json' })))
  return { records: records.filter((r): r is ApiKeyRecord => r !== null), ...(!page.list_complete && { cursor: page.cursor }) }
}
