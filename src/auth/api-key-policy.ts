/**
 * @module
 * `api-key`: requires an API key, from a header (default `X-API-Key`) or a query parameter. Keys
 * are known only by their SHA-256 hashes: in a KV namespace (managed through the admin API, see
 * `auth/api-key-admin.ts`), or in Worker secrets named by `consumers.<id>.apiKeySecrets` (each
 * holding the hex SHA-256 of a key), compared in constant time. The key's consumer is published
 * for rate limiting, caching and logging. The key is not forwarded to the origin unless
 * `hideCredentials` is false. Missing or bad key: 401; the key store failing: 503.
 *
 * @example
 * { "type": "api-key", "header": "X-API-Key", "kv": "API_KEYS" }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import { HeaderName, Name } from '../core/schema'
import type { AppEnv } from '../core/context'
import { authUnavailable, knownConsumer, logAuth, publishConsumer, unauthorized } from './consumer'
import { consumerLookup } from './consumer-store'
import { findByHash, fromHex, sha256, statusOf, toHex, type ApiKeyRecord } from './api-key-store'
import { logEvent } from '../core/logging'
import { definePolicy } from '../core/policy'
import { ApiKeyOptionsSchema } from './schema'

type ConfigKey = { consumer: string; hash: Uint8Array }

/** Removes every `name=...` pair from a raw query string, leaving the others byte for byte. */
export function withoutQueryParam(search: string, name: string): string {
  if (search.length <= 1) return search
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => {
      const raw = pair.split('=', 1)[0]!.replaceAll('+', ' ')
      let decoded = raw
      try {
        decoded = decodeURIComponent(raw)
      } catch {
        // A malformed escape can't be our parameter's name as URLSearchParams reads it either.
      }
      return decoded !== name
    })
  return kept.length > 0 ? `?${kept.join('&')}` : ''
}

/** True when `hash` equals one of `keys`; every comparison runs, so timing says nothing. */
function matchConfigKey(keys: ConfigKey[], hash: Uint8Array): ConfigKey | undefined {
  let found: ConfigKey | undefined
  for (const key of keys) if (crypto.subtle.timingSafeEqual(key.hash, hash) && !found) found = key
  return found
}

export const apiKeyPolicy = definePolicy({
  type: 'api-key',
  phase: 'auth',
  schema: ApiKeyOptionsSchema,
  check(options, ctx) {
    const secrets = Object.values(ctx.config.consumers).some((consumer) => (consumer.apiKeySecrets?.length ?? 0) > 0)
    if (options.kv === undefined && !secrets) ctx.error('', 'no keys can match: set "kv" or give a consumer "apiKeySecrets"')
  },
  subrequests(options) {
    return options.kv !== undefined ? 1 : 0
  },
  create(options, { config, env, at }) {
    const configKeys: ConfigKey[] = []
    for (const [consumer, entry] of Object.entries(config.consumers)) {
      for (const secret of entry.apiKeySecrets ?? []) {
        const value = env[secret]
        const hash = typeof value === 'string' ? fromHex(value) : undefined
        if (hash) configKeys.push({ consumer, hash })
        else logEvent('api_key_secret_unusable', { at, consumer, secret, reason: value === undefined ? 'not set' : 'not a hex SHA-256 hash' })
      }
    }
    const { header, query, kv: binding, hideCredentials, maxBytes } = options
    const challenge = `ApiKey header="${header}"`
    const lookup = consumerLookup(config, env)

    const reject = (c: Context<AppEnv>, code: string | undefined): never => {
      logAuth(c, { via: 'api-key', outcome: code ? 'invalid' : 'missing', ...(code && { code }) })
      throw unauthorized(code ? 'The API key is invalid.' : 'An API key is required.', challenge)
    }

    return async function apiKey(c, next) {
      let key = c.req.header(header)
      // An empty header is no key: the query parameter still gets its turn.
      if ((key === undefined || key === '') && query !== undefined) key = c.get('url').searchParams.get(query) ?? undefined
      if (hideCredentials) {
        c.get('upstreamRequest').headers.delete(header)
        if (query !== undefined) c.get('upstreamRequest').search = withoutQueryParam(c.get('upstreamRequest').search, query)
      }
      if (key === undefined || key === '') return reject(c, undefined)
      if (key.length > maxBytes) return reject(c, 'ERR_API_KEY_TOO_LARGE')
      const hash = await sha256(key)
      const hashHex = toHex(hash)

      const configured = matchConfigKey(configKeys, hash)
      let record: ApiKeyRecord | null = null
      if (!configured && binding !== undefined) {
        const kv = env[binding] as KVNamespace | undefined
        try {
          if (!kv || typeof kv.get !== 'function') throw new Error(`no KV binding "${binding}"`)
          record = await findByHash(kv, hashHex, c.get('runtime'))
        } catch (err) {
          logAuth(c, { via: 'api-key', outcome: 'unavailable', code: 'ERR_API_KEY_STORE' })
          c.get('log').errorCause = String(err)
          throw authUnavailable('API keys cannot be checked right now.', 5)
        }
      }
      if (configured) {
        publishConsumer(c, config, configured.consumer, 'api-key')
        logAuth(c, { via: 'api-key', outcome: 'ok' })
      } else {
        if (!record) return reject(c, 'ERR_API_KEY_UNKNOWN')
        const status = statusOf(record, c.get('runtime').now())
        if (status !== 'active') return reject(c, status === 'expired' ? 'ERR_API_KEY_EXPIRED' : 'ERR_API_KEY_REVOKED')
        // A consumer removed from the config (or the consumer store) loses its keys with it.
        const known = await knownConsumer(c, config, lookup, record.consumer, 'api-key')
        if (known === undefined) return reject(c, 'ERR_API_KEY_UNKNOWN_CONSUMER')
        publishConsumer(c, config, record.consumer, 'api-key', record.metadata, undefined, known)
        logAuth(c, { via: 'api-key', outcome: 'ok', keyId: record.id })
      }
      c.set('apiKeyHash', hashHex)
      await next()
    }
  },
})
