/**
 * @module
 * Remote JSON Web Key Sets, fetched by the gateway and handed to jose's `createLocalJWKSet`, which
 * does all key selection and import. jose's `createRemoteJWKSet` is not used: on Workers it can't
 * share its in-flight fetch between requests, a failed refetch throws instead of keeping the last
 * good keys, and it has no size cap. Here:
 *
 * - one key set per isolate and source (module level), shared by every route and config reload;
 * - keys are refreshed after `ttl`; a token with an unknown `kid` triggers one refetch, then a
 *   cooldown (default 5 s), so random kids can't make us hammer the identity provider, and a key
 *   published and used at once is refused for at most the cooldown;
 * - while the last fetch failed, an unknown `kid` is `KeysUnavailableError` (503), not a bad token
 *   (401): the key may well be new, and we couldn't ask;
 * - "one fetch at a time" is a timestamp set *before* the fetch starts (a request can't await
 *   another request's I/O on Workers); a request that finds a fetch running polls for its result;
 * - a failing endpoint keeps the last good keys for `maxStale` after they expire; with no usable
 *   keys at all the request fails closed with `KeysUnavailableError` (a 503, not a bad token);
 * - with OIDC discovery, `jwks_uri` is looked up first (and re-looked up with the keys);
 * - `version` changes whenever a fetch brings a different key set (a key added or removed), and only
 *   then: a token signature remembered as verified (`./verified-signatures`) holds for one version.
 */
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose'
import { logEvent } from '../core/logging'
import { fetchJson } from './fetch-json'
import { discoverJwksUri } from './oidc'
import { systemRuntime, type Runtime } from '../core/runtime'

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
let keySetIds = 0

/** A request's view of which key set version resolved its key (see `RemoteKeySet.getKey`). */
export type KeyVersionSeen = { version?: number }

export class RemoteKeySet {
  private keys: LocalSet | undefined
  /** The JWKS text `keys` was built from: a refresh bringing the same text keeps `keys` and `version`. */
  private keysText = ''
  private keysVersion = 0
  private fetchedAt = 0
  private lastAttempt = Number.NEGATIVE_INFINITY
  private fetchingUntil = 0
  /** Whether the last fetch attempt failed (timeout, HTTP error, not a JWKS). */
  private lastFailed = false
  private jwksUri: string | undefined
  private discoveredAt = 0
  /** Fetch attempts of the key set (for tests and logs). */
  attempts = 0
  /** This set among the isolate's (a scope of remembered signatures, `./verified-signatures`). */
  readonly id = ++keySetIds

  constructor(
    readonly source: KeySetSource,
    private readonly options: KeySetOptions,
  ) {
    if ('jwksUrl' in source) this.jwksUri = source.jwksUrl
  }

  /**
   * A jose key resolver (`jwtVerify(token, (h, t) => keySet.getKey(h, t, runtime))`). Time is the
   * caller's runtime: the set is per isolate, shared by every config, and owns no clock. `seen`
   * gets the version of the key set the key came from, set before any other request can run.
   */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput, runtime: Runtime = systemRuntime, seen?: KeyVersionSeen): Promise<CryptoKey> => {
    const keys = await this.usable(runtime)
    if (seen) seen.version = this.keysVersion
    try {
      return await keys(header, token)
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err
      // An unknown kid: the provider may have rotated. One refetch, then the cooldown holds.
      const refreshed = await this.refreshOrWait(runtime)
      if (this.lastFailed) throw new KeysUnavailableError('unknown kid while the key set endpoint is failing', 'ERR_AUTH_KEYS_REFRESH_FAILED')
      if (!refreshed) throw err
      const fresh = this.usableKeys(runtime)
      if (!fresh || fresh === keys) throw err
      if (seen) seen.version = this.keysVersion
      return fresh(header, token)
    }
  }

  /**
   * The version of the keys a token would be verified with now, refreshing them first when their
   * TTL has passed, exactly as `getKey` would: a remembered signature is checked against this, so a
   * key removed from the JWKS stops its tokens at the same refresh that would have refused them.
   */
  async version(runtime: Runtime): Promise<number> {
    await this.usable(runtime)
    return this.keysVersion
  }

  /** The keys to verify with: refreshed when past their TTL; none usable is `KeysUnavailableError`. */
  private async usable(runtime: Runtime): Promise<LocalSet> {
    if (!this.keys || runtime.now() - this.fetchedAt > this.options.ttlMs) await this.refreshOrWait(runtime)
    const keys = this.usableKeys(runtime)
    if (!keys) throw new KeysUnavailableError('no usable keys (the key set endpoint failed and nothing usable is cached)')
    return keys
  }

  /** Starts a refresh if allowed, or waits for one already running. False when neither happened. */
  private async refreshOrWait(runtime: Runtime): Promise<boolean> {
    const now = runtime.now()
    if (now < this.fetchingUntil) {
      // Bounded by the fetch timeout: the running fetch clears `fetchingUntil`, or it lapses.
      const polls = Math.ceil(this.options.timeoutMs / POLL_MS) + 1
      for (let i = 0; i < polls && runtime.now() < this.fetchingUntil; i++) await runtime.sleep(POLL_MS)
      return true
    }
    if (now - this.lastAttempt < this.options.cooldownMs) return false
    await this.refresh(runtime)
    return true
  }

  private usableKeys(runtime: Runtime): LocalSet | undefined {
    if (!this.keys) return undefined
    if (runtime.now() - this.fetchedAt > this.options.ttlMs + this.options.maxStaleMs) return undefined
    return this.keys
  }

  private async refresh(runtime: Runtime): Promise<void> {
    const { maxBytes, timeoutMs, ttlMs } = this.options
    // Set before any await: concurrent requests see the fetch and the cooldown at once.
    this.lastAttempt = runtime.now()
    this.fetchingUntil = this.lastAttempt + 2 * timeoutMs
    this.attempts++
    try {
      if ('discoveryUrl' in this.source && (!this.jwksUri || runtime.now() - this.discoveredAt > ttlMs)) {
        try {
          this.jwksUri = await discoverJwksUri(this.source.issuer, this.source.discoveryUrl, maxBytes, timeoutMs, runtime)
          this.discoveredAt = runtime.now()
        } catch (err) {
          logEvent('oidc_discovery_failed', { issuer: this.source.issuer, error: String(err) })
          if (!this.jwksUri) {
            this.lastFailed = true
            return
          }
        }
      }
      const body = await fetchJson(this.jwksUri!, maxBytes, timeoutMs, runtime)
      const keys = (body as Partial<JSONWebKeySet> | null)?.keys
      if (!Array.isArray(keys) || keys.length === 0) throw new Error('not a JWKS with at least one key')
      const text = JSON.stringify(keys)
      if (text !== this.keysText) {
        this.keys = createLocalJWKSet(body as JSONWebKeySet)
        this.keysText = text
        this.keysVersion++
      }
      this.fetchedAt = runtime.now()
      this.lastFailed = false
    } catch (err) {
      this.lastFailed = true
      logEvent('jwks_fetch_failed', { url: this.jwksUri, error: String(err), keepingKeys: this.usableKeys(runtime) !== undefined })
    } finally {
      this.fetchingUntil = 0
    }
  }
}

/**
 * Per isolate, not per config: a hot reload keeps the keys and the cooldown (a reload must not
 * let a flood of unknown kids refetch), and every route with the same source shares one fetch.
 * Keyed by source and options; the sets hold timestamps only, read against the caller's runtime.
 */
const keySets = new Map<string, RemoteKeySet>()

/** The isolate's key set for a source and options: built once, shared by every route. */
export function remoteKeySet(source: KeySetSource, options: KeySetOptions): RemoteKeySet {
  const id = JSON.stringify([source, options])
  let set = keySets.get(id)
  if (!set) keySets.set(id, (set = new RemoteKeySet(source, options)))
  return set
}
