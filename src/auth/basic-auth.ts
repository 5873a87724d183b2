/**
 * @module
 * `basic-auth`: HTTP Basic authentication (RFC 7617) against PBKDF2-SHA256 password hashes in the
 * config (`basic-auth-hash.ts`; marked secret, so the admin API's `/config` redacts them). Each
 * credential names the configured consumer it is, published for rate limits, caching and logs.
 *
 * - Missing, malformed or wrong credentials: 401 problem+json with
 *   `WWW-Authenticate: Basic realm="...", charset="UTF-8"`; the reason goes only to the log.
 * - An unknown user name costs the same PBKDF2 work as a known one (a hash no password matches),
 *   so response times don't tell which user names exist; hashes compare in constant time.
 * - Wrong passwords are counted per client IP and per user name across isolates
 *   (`core/failures.ts`): after 10 in 5 minutes, 429 with `Retry-After` for either, the right
 *   password included. A user name can thus be locked out by others for up to 5 minutes. A right
 *   password's check of the counters is remembered per isolate for 5 s per address and user name
 *   (`rememberClearMs`): a block made elsewhere reaches an isolate that let that user in from that
 *   address within 5 s, or at once when a wrong password for either reaches it.
 * - A verified credential is remembered per isolate for 60 s (PBKDF2 at 100,000 iterations costs
 *   tens of ms of CPU), keyed by a hash of user name and password under a random key made when the
 *   policy is built, never the password itself. A changed config (hot reload) starts afresh; the
 *   block check runs for a remembered credential as for any other.
 *
 * @example
 * { "type": "basic-auth", "realm": "partners",
 *   "credentials": [{ "username": "acme", "passwordHash": "pbkdf2-sha256$100000$...$...", "consumer": "acme" }] }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import type { AppEnv } from '../core/context'
import { toHex } from '../core/encoding'
import type { FailureGuard, FailureLimit } from '../core/failures'
import { definePolicy } from '../core/policy'
import { checkedString, errorOf, Name } from '../core/schema'
import { Secret } from '../core/secret'
import { passwordMatches, parsePasswordHash, type PasswordHash } from './basic-auth-hash'
import { checkNamedConsumer, logAuth, publishConsumer, unauthorized } from './consumer'

/** Longer `Authorization` values are refused undecoded: no real user name and password need more. */
const MAX_HEADER_CHARS = 1024
const CACHE_MS = 60_000
/** Per config and isolate: a flood of distinct right credentials evicts the oldest, never grows the isolate. */
const MAX_CACHED = 1000

export const BASIC_AUTH_FAILURES: FailureLimit = {
  id: 'basic-auth/failures',
  max: 10,
  windowMs: 5 * 60_000,
  name: 'basic-auth-failures',
  detail: (retryAfter) => `Too many wrong passwords for this user or from this address; retry in ${retryAfter} s.`,
  // A busy user would otherwise wait for both objects on every request, and send each of them
  // every request it makes (an object serves about 1,000 a second).
  rememberClearMs: 5_000,
}

const Realm = v.pipe(v.string(), v.regex(/^[\x20-\x7e]{1,64}$/, 'must be 1-64 printable ASCII characters'), v.regex(/^[^"\\]*$/, 'cannot contain " or \\'))

const CredentialSchema = v.strictObject({
  username: v.pipe(v.string(), v.minLength(1, 'cannot be empty'), v.maxLength(128, 'at most 128 characters'), v.regex(/^[^:\x00-\x1f\x7f]*$/, 'cannot contain ":" or control characters (RFC 7617)')),
  passwordHash: Secret(
    v.pipe(
      checkedString((hash) => errorOf(() => parsePasswordHash(hash))),
      v.description(SCHEMA_DOCS ? '`pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64), at most 100,000 iterations: `npm run hash:password`.' : ''),
    ),
  ),
  consumer: v.pipe(Name, v.description(SCHEMA_DOCS ? 'The configured consumer this user is.' : '')),
})

export const BasicAuthOptionsSchema = v.strictObject({
  type: v.literal('basic-auth'),
  realm: v.pipe(v.optional(Realm, 'api'), v.description(SCHEMA_DOCS ? 'Sent in `WWW-Authenticate`; browsers show it.' : '')),
  credentials: v.pipe(v.array(CredentialSchema), v.minLength(1, 'list at least one credential')),
  hideCredentials: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Remove `Authorization` from the request to the origin.' : '')),
})

type User = { consumer: string; stored: PasswordHash }
type Credentials = { username: string; password: string }

/** The user name and password of a `Basic` header, or a reason it has none. */
function readBasic(header: string | undefined): Credentials | 'missing' | 'ERR_BASIC_AUTH_TOO_LARGE' | 'ERR_BASIC_AUTH_MALFORMED' {
  if (header === undefined || !/^basic(\s|$)/i.test(header)) return 'missing'
  if (header.length > MAX_HEADER_CHARS) return 'ERR_BASIC_AUTH_TOO_LARGE'
  const encoded = header.slice(5).trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return 'ERR_BASIC_AUTH_MALFORMED'
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0)))
  } catch {
    return 'ERR_BASIC_AUTH_MALFORMED'
  }
  const colon = text.indexOf(':')
  if (colon <= 0) return 'ERR_BASIC_AUTH_MALFORMED'
  return { username: text.slice(0, colon), password: text.slice(colon + 1) }
}

/** Remembers verified credentials by a keyed hash, for at most `CACHE_MS`. */
function verifiedCache() {
  const entries = new Map<string, { consumer: string; until: number }>()
  const secret = crypto.getRandomValues(new Uint8Array(32))
  const keyOf = async ({ username, password }: Credentials) => {
    const material = new TextEncoder().encode(`${username}\u0000${password}`)
    const bytes = new Uint8Array(secret.length + material.length)
    bytes.set(secret)
    bytes.set(material, secret.length)
    return toHex(await crypto.subtle.digest('SHA-256', bytes))
  }
  return {
    keyOf,
    get(key: string, now: number): string | undefined {
      const entry = entries.get(key)
      if (entry && entry.until > now) return entry.consumer
      if (entry) entries.delete(key)
      return undefined
    },
    set(key: string, consumer: string, now: number): void {
      if (entries.size >= MAX_CACHED) entries.delete(entries.keys().next().value!)
      entries.set(key, { consumer, until: now + CACHE_MS })
    },
  }
}

export const basicAuthPolicy = definePolicy({
  type: 'basic-auth',
  phase: 'auth',
  schema: BasicAuthOptionsSchema,
  check(options, ctx) {
    const seen = new Set<string>()
    options.credentials.forEach((credential, i) => {
      if (seen.has(credential.username)) ctx.error(`.credentials[${i}].username`, `"${credential.username}" is listed twice`)
      seen.add(credential.username)
      checkNamedConsumer(ctx, `.credentials[${i}].consumer`, credential.consumer)
    })
  },
  subrequests() {
    // The failure counter: the client IP's object and the user name's, and a refund of one when the other refuses.
    return 3
  },
  create(options, { config, failures }) {
    const users = new Map<string, User>(options.credentials.map((c) => [c.username, { consumer: c.consumer, stored: parsePasswordHash(c.passwordHash) }]))
    // What an unknown user name is checked against: as slow as the slowest real hash, matched by nothing.
    const iterations = Math.max(...[...users.values()].map((user) => user.stored.iterations))
    const nobody: PasswordHash = { iterations, salt: new Uint8Array(16), hash: new Uint8Array(32) }
    const cache = verifiedCache()
    const guard: FailureGuard = failures?.(BASIC_AUTH_FAILURES) ?? (async () => {})
    const challenge = `Basic realm="${options.realm}", charset="UTF-8"`

    const reject = (c: Context<AppEnv>, code: string | undefined): never => {
      logAuth(c, { via: 'basic-auth', outcome: code ? 'invalid' : 'missing', ...(code && { code }) })
      throw unauthorized(code ? 'The user name or password is wrong.' : 'A user name and password are required.', challenge)
    }

    return async function basicAuth(c, next) {
      const given = readBasic(c.req.header('authorization'))
      if (options.hideCredentials) c.get('upstreamRequest').headers.delete('authorization')
      if (given === 'missing') return reject(c, undefined)
      if (typeof given === 'string') return reject(c, given)

      const now = c.get('runtime').now()
      const key = await cache.keyOf(given)
      const user = users.get(given.username)
      let consumer = cache.get(key, now)
      const ok = consumer !== undefined || ((await passwordMatches(given.password, user?.stored ?? nobody)) && user !== undefined)
      // Counted and checked before the answer, so a blocked user name or address learns nothing.
      await guard(c, ok, { 'basic-user': given.username })
      if (!ok) return reject(c, user ? 'ERR_BASIC_AUTH_WRONG_PASSWORD' : 'ERR_BASIC_AUTH_UNKNOWN_USER')
      if (consumer === undefined) {
        consumer = user!.consumer
        cache.set(key, consumer, now)
      }
      publishConsumer(c, config, consumer, 'basic-auth')
      logAuth(c, { via: 'basic-auth', outcome: 'ok' })
      await next()
    }
  },
})
