/**
 * @module
 * Cache keys. A key is built from the method (HEAD reads GET's entries), the host, the route, the
 * purge generation, the partition (shared, or one consumer), the normalised path, the query as
 * configured (include / exclude / sorted; credential parameters never count), and the configured
 * request headers. The origin's `Vary` adds a second step (`variantKey`).
 *
 * The key text is hashed (SHA-256) into the Cache API URL, so no credential, consumer id or query
 * value appears in a key; the consumer id is hashed again on its own, so even the key text holds
 * no raw id.
 */
import { sha256Hex } from '../core/encoding'
import { TextMemo } from '../core/text-memo'

export type KeyOptions = {
  query: { include?: string[] | undefined; exclude?: string[] | undefined; sort: boolean }
  headers: string[]
  credentials: { headers: string[]; query: string[]; cookies: boolean }
  /** Cookies the gateway itself sets (sticky sessions): they identify no one. */
  ownCookies?: ReadonlySet<string>
}

export type KeyInput = {
  host: string
  routeId: string
  generation: string
  /** `shared`, or `consumer:<hash>`. */
  partition: string
  path: string
  search: string
  headers: Headers
}

export type CompiledKey = {
  /** Where the request carries a credential (`authorization`, `cookie`, `header:x-api-key`, `query:key`), or undefined. */
  credentialsOf(headers: Headers, search: string): string | undefined
  /** The primary key text (not yet hashed). */
  primary(input: KeyInput): string
}


/**
 * The partition of a consumer: its state key (`Consumer.key`), hashed (keys and logs never hold the
 * raw id). A token's subject the config doesn't know is keyed with its issuer, so the same `sub` at
 * two issuers never shares an entry; a configured consumer's tokens and API keys share one.
 */
export async function consumerPartition(consumerKey: string): Promise<string> {
  return `consumer:${(await hashedOnce(`edgeway-consumer:${consumerKey}`)).slice(0, 32)}`
}

/**
 * SHA-256 hex of texts hashed lately: a hit's key and partition are the same text request after
 * request, and hashing them was 7% of a hit's CPU samples. A pure function's results, so sharing
 * them across configs is safe. Per isolate, bounded by the characters held (`TextMemo`), not by
 * the number of keys: a key text carries the client's path, query and key headers, and 4,096 keys
 * of 8 KB URLs held 33 MB of the isolate's 128 MB. A key text is kept only once an entry was found
 * under it (`rememberKeyHash`): keeping every miss's key (new texts, most never looked up again)
 * cost a miss about 2% of its CPU (measured by leaving the memo out, `cache-miss`).
 */
const hashed = new TextMemo<string>(512 * 1024)

async function hashedOnce(text: string): Promise<string> {
  let hash = hashed.get(text)
  if (hash === undefined) {
    hash = await sha256Hex(text)
    hashed.set(text, hash)
  }
  return hash
}

const CACHE_PATH = '/__edgeway_cache/'

export function compileKey(options: KeyOptions): CompiledKey {
  const credentialHeaders = options.credentials.headers.map((h) => h.toLowerCase())
  const credentialQuery = new Set(options.credentials.query.map((q) => q.toLowerCase()))
  const include = options.query.include ? new Set(options.query.include) : undefined
  const exclude = new Set(options.query.exclude ?? [])
  const keyHeaders = options.headers.map((h) => h.toLowerCase())
  const { sort } = options.query
  const checkCookies = options.credentials.cookies
  const own = options.ownCookies ?? new Set<string>()
  const nameOf = (part: string) => (part.includes('=') ? part.slice(0, part.indexOf('=')) : part).trim()
  const foreignCookie = (header: string) => own.size === 0 || header.split(';').some((part) => part.trim() !== '' && !own.has(nameOf(part)))

  function normalisedQuery(search: string): string {
    if (search.length <= 1) return ''
    let entries = [...new URLSearchParams(search)].filter(
      ([name]) => !credentialQuery.has(name.toLowerCase()) && (include ? include.has(name) : !exclude.has(name)),
    )
    // Stable: repeated parameters keep their relative order, which the origin may depend on.
    if (sort) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return new URLSearchParams(entries).toString()
  }

  return {
    credentialsOf(headers, search) {
      if (headers.has('authorization')) return 'authorization'
      const cookie = headers.get('cookie')
      if (checkCookies && cookie !== null && foreignCookie(cookie)) return 'cookie'
      for (const name of credentialHeaders) if (headers.has(name)) return `header:${name}`
      if (search.length > 1 && credentialQuery.size > 0) {
        for (const name of new URLSearchParams(search).keys()) if (credentialQuery.has(name.toLowerCase())) return `query:${name.toLowerCase()}`
      }
      return undefined
    },
    primary(input) {
      // `/2`: since path buckets (`./generation`), a path purge an older version wrote is seen only
      // by reading that path; its entries are not looked up again.
      const lines = ['edgeway-cache/2', input.host.toLowerCase(), input.routeId, input.generation, input.partition, `GET ${input.path}?${normalisedQuery(input.search)}`]
      for (const name of keyHeaders) lines.push(`${name}: ${input.headers.get(name) ?? ''}`)
      return lines.join('\n')
    },
  }
}

/** The header names an origin's `Vary` lists (lower-cased, sorted, without duplicates). */
export function varyNames(vary: string | null): string[] {
  if (!vary) return []
  return [...new Set(vary.split(',').map((v) => v.trim().toLowerCase()).filter(Boolean))].sort()
}

/** The key of one variant of a `Vary`-ing response: the primary key plus the request's values. */
export function variantKey(primary: string, names: readonly string[], headers: Headers): string {
  return `${primary}\nvary ${names.map((name) => `${name}: ${headers.get(name) ?? ''}`).join('\n')}`
}

/**
 * The Cache API request for a key text: a URL on the request's own host (the zone), hashed path.
 * The hash is read from the memo, not added to it: see `rememberKeyHash`.
 */
export async function cacheRequest(origin: string, keyText: string): Promise<Request> {
  return new Request(`${origin}${CACHE_PATH}${hashed.get(keyText) ?? (await sha256Hex(keyText))}`, { method: 'GET' })
}

/** Keeps the hash of a key text an entry was found under (`request`, from `cacheRequest`): it will be looked up again. */
export function rememberKeyHash(keyText: string, request: Request): void {
  if (hashed.get(keyText) === undefined) hashed.set(keyText, request.url.slice(request.url.lastIndexOf(CACHE_PATH) + CACHE_PATH.length))
}
