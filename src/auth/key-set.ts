/**
 * @module
 * Remote JSON Web Key Sets, fetched by the gateway and handed to jose's `createLocalJWKSet`, which
 * does all key selection and import. jose's `createRemoteJWKSet` is not used: on Workers it can't
 * share its in-flight fetch between requests, a failed refetch throws instead of keeping the last
 * good keys, and it has no size cap. Here:
 *
 * - one key set per isolate and source (module level), shared by every route and config reload;
 * - keys are refreshed after `ttl`; a token with an unknown `kid` triggers one refetch, then a
 *   cooldown, so random kids can't make us hammer the identity provider;
 * - "one fetch at a time" is a timestamp set *before* the fetch starts (a request can't await
 *   another request's I/O on Workers); a request that finds a fetch running polls for its result;
 * - a failing endpoint keeps the last good keys for `maxStale` after they expire; with no usable
 *   keys at all the request fails closed with `KeysUnavailableError` (a 503, not a bad token);
 * - with OIDC discovery, `jwks_uri` is looked up first (and re-looked up with the keys).
 */
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose'
import { logEvent } from '../core/logging'
import { fetchJson } from './fetch-json'
import { discoverJwksUri } from './oidc'

export type KeySetOptions = {
  ttlMs: number
  cooldownMs: number
  maxStaleMs: number
  maxBytes: number
  timeoutMs: number
}

export type KeySetSource = { jwksUrl: string } | { issuer: string; discoveryUrl: string }

/** No keys to verify with: the identity provider is unreachable and nothing usable is cached. */
export class KeysUnavailableError extends Error {
  constructor(
    message: string,
    readonly code: string = 'ERR_AUTH_NO_KEYS',
  ) {
    super(message)
    this.name = 'KeysUnavailableError'
  }
}

type LocalSet = ReturnType<typeof createLocalJWKSet>
const POLL_MS = 20
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export class RemoteKeySet {
  private keys: LocalSet | undefined
  private fetchedAt = 0
  private lastAttempt = Number.NEGATIVE_INFINITY
  private fetchingUntil = 0
  private jwksUri: string | undefined
  private discoveredAt = 0
  /** Fetch attempts of the key set (for tests and logs). */
  attempts = 0

  constructor(
    readonly source: KeySetSource,
    private readonly options: KeySetOptions,
  ) {
    if ('jwksUrl' in source) this.jwksUri = source.jwksUrl
  }

  /** A jose key resolver (`jwtVerify(token, keySet.getKey)`). */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    if (!this.keys || Date.now() - this.fetchedAt > this.options.ttlMs) await this.refreshOrWait()
    const keys = this.usableKeys()
    if (!keys) throw new KeysUnavailableError('no usable keys (the key set endpoint failed and nothing usable is cached)')
    try {
      return await keys(header, token)
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
      // An unknown kid: the provider may have rotated. One refetch, then the cooldown holds.
      if (!(await this.refreshOrWait())) throw err
      const fresh = this.usableKeys()
      if (!fresh || fresh === keys) throw err
      return fresh(header, token)
    }
  }

  /** Starts a refresh if allowed, or waits for one already running. False when neither happened. */
  private async refreshOrWait(): Promise<boolean> {
    const now = Date.now()
    if (now < this.fetchingUntil) {
      // Bounded by the fetch timeout: the running fetch clears `fetchingUntil`, or it lapses.
      const polls = Math.ceil(this.options.timeoutMs / POLL_MS) + 1
      for (let i = 0; i < polls && Date.now() < this.fetchingUntil; i++) await sleep(POLL_MS)
      return true
    }
    if (now - this.lastAttempt < this.options.cooldownMs) return false
    await this.refresh()
    return true
  }

  private usableKeys(): LocalSet | undefined {
    if (!this.keys) return undefined
    if (Date.now() - this.fetchedAt > this.options.ttlMs + this.options.maxStaleMs) return undefined
    return this.keys
  }

  private async refresh(): Promise<void> {
    const { maxBytes, timeoutMs, ttlMs } = this.options
    // Set before any await: concurrent requests see the fetch and the cooldown at once.
    this.lastAttempt = Date.now()
    this.fetchingUntil = this.lastAttempt + 2 * timeoutMs
    this.attempts++
    try {
      if ('discoveryUrl' in this.source && (!this.jwksUri || Date.now() - this.discoveredAt > ttlMs)) {
        try {
          this.jwksUri = await discoverJwksUri(this.source.issuer, this.source.discoveryUrl, maxBytes, timeoutMs)
          this.discoveredAt = Date.now()
        } catch (err) {
          logEvent('oidc_discovery_failed', { issuer: this.source.issuer, error: String(err) })
          if (!this.jwksUri) return
        }
      }
      const body = await fetchJson(this.jwksUri!, maxBytes, timeoutMs)
      const keys = (body as Partial<JSONWebKeySet> | null)?.keys
      if (!Array.isArray(keys) || keys.length === 0) throw new Error('not a JWKS with at least one key')
      this.keys = createLocalJWKSet(body as JSONWebKeySet)
      this.fetchedAt = Date.now()
    } catch (err) {
      logEvent('jwks_fetch_failed', { url: this.jwksUri, error: String(err), keepingKeys: this.usableKeys() !== undefined })
    } finally {
      this.fetchingUntil = 0
    }
  }
}

const keySets = new Map<string, RemoteKeySet>()

/** The isolate's key set for a source and options: built once, shared by every route. */
export function remoteKeySet(source: KeySetSource, options: KeySetOptions): RemoteKeySet {
  const id = JSON.stringify([source, options])
  let set = keySets.get(id)
  if (!set) keySets.set(id, (set = new RemoteKeySet(source, options)))
  return set
}
