/**
 * @module
 * `http-signature`: signed requests per RFC 9421 (HTTP Message Signatures). The client sends
 * `Signature-Input` (the covered components and parameters) and `Signature` (the bytes) under one
 * label; `keyid` names a configured key (`./http-signature-keys`: HMAC-SHA256 or Ed25519), whose
 * consumer is published like any other authentication.
 *
 * - The signature must cover `components` (default `@method`, `@authority`, `@path`) and, when the
 *   request has a body, `content-digest` (RFC 9530), which is then checked against the body (read
 *   up to `maxBodyBytes`; larger: 413).
 * - `created` is required: not more than `clockSkew` s in the future, not older than `maxAge` s;
 *   `expires`, when given, must not have passed. The clock is the injected runtime's.
 * - `nonce` is required by default; a used one is refused while its signature could still be
 *   valid. Nonces are kept in the `SignatureNonces` Durable Object of the key (`./signature-nonces`),
 *   so a replay through another isolate is refused too. The store failing is a 503.
 * - Anything else (missing, malformed or oversized fields, unknown key, wrong `alg`, bad
 *   signature, an altered component, replay): 401 problem+json with `WWW-Authenticate: Signature`
 *   and `Accept-Signature` saying what to sign; the precise reason goes only to the log.
 *
 * @example
 * { "type": "http-signature", "keys": [
 *   { "keyId": "acme-2026", "consumer": "acme", "algorithm": "ed25519", "publicKey": { "kty": "OKP", "crv": "Ed25519", "x": "..." } }] }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import { readUpTo } from '../core/body'
import type { AppEnv } from '../core/context'
import { ConfigError, GatewayError } from '../core/errors'
import { definePolicy } from '../core/policy'
import { authUnavailable, checkNamedConsumer, logAuth, publishConsumer } from './consumer'
import { contentDigestProblem } from './content-digest'
import { keyVerifiers, SigningKeySchema, type KeyVerifier } from './http-signature-keys'
import { coveredNames, DERIVED_COMPONENTS, SignatureBaseError, signatureBase } from './signature-base'
import type { SignatureNonces } from './signature-nonces'
import { isInnerList, parseDictionary, serializeBareItem, StructuredFieldError, type InnerList } from './structured-fields'

/** Longer `Signature-Input`/`Signature` values are refused unparsed: a real signature needs far less. */
const MAX_FIELD_CHARS = 4096
const MAX_COMPONENTS = 32
const MAX_NONCE_CHARS = 256

const Component = v.pipe(
  v.string(),
  v.check((name) => (DERIVED_COMPONENTS as readonly string[]).includes(name) || /^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name), `must be a lower-case header name or one of ${DERIVED_COMPONENTS.join(', ')}`),
)

export const HttpSignatureOptionsSchema = v.strictObject({
  type: v.literal('http-signature'),
  keys: v.pipe(v.array(SigningKeySchema), v.minLength(1, 'list at least one key')),
  components: v.pipe(v.optional(v.array(Component), ['@method', '@authority', '@path']), v.description(SCHEMA_DOCS ? 'Components every signature must cover.' : '')),
  contentDigest: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'A request with a body must cover `content-digest`, checked against the body.' : '')),
  maxAge: v.pipe(v.optional(v.pipe(v.number(), v.integer('must be whole seconds'), v.minValue(1), v.maxValue(3600)), 300), v.description(SCHEMA_DOCS ? 'Seconds a signature is accepted after `created`.' : '')),
  clockSkew: v.pipe(v.optional(v.pipe(v.number(), v.integer('must be whole seconds'), v.minValue(0), v.maxValue(300)), 30), v.description(SCHEMA_DOCS ? 'Seconds the client clock may be ahead or behind.' : '')),
  requireNonce: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Require a `nonce` and refuse one used before (replays).' : '')),
  label: v.pipe(v.optional(v.pipe(v.string(), v.regex(/^[a-z*][a-z0-9_\-.*]{0,63}$/, 'must be a structured-field key (lower case)'))), v.description(SCHEMA_DOCS ? 'The signature label to verify; default: the first in `Signature-Input`.' : '')),
  maxBodyBytes: v.pipe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10 * 1024 * 1024)), 1024 * 1024), v.description(SCHEMA_DOCS ? 'Largest body whose `Content-Digest` is checked.' : '')),
  binding: v.pipe(v.optional(v.string(), 'SIGNATURE_NONCES'), v.description(SCHEMA_DOCS ? 'The `SignatureNonces` Durable Object binding.' : '')),
})

type Options = v.InferOutput<typeof HttpSignatureOptionsSchema>
/** Why a request is refused (a log code); `missing`: it carried no signature at all. */
class Refusal extends Error {
  constructor(
    readonly code: string,
    readonly missing = false,
  ) {
    super(code)
  }
}

const refuse = (code: string, missing = false): never => {
  throw new Refusal(code, missing)
}

/** The chosen signature's inner list and bytes, parsed strictly. */
function readSignature(input: string | undefined, signature: string | undefined, label: string | undefined): { label: string; list: InnerList; bytes: Uint8Array } {
  if (input === undefined || signature === undefined) return refuse('ERR_SIGNATURE_MISSING', true)
  if (input.length > MAX_FIELD_CHARS || signature.length > MAX_FIELD_CHARS) return refuse('ERR_SIGNATURE_TOO_LARGE')
  let inputs, signatures
  try {
    inputs = parseDictionary(input)
    signatures = parseDictionary(signature)
  } catch (err) {
    if (err instanceof StructuredFieldError) return refuse('ERR_SIGNATURE_MALFORMED')
    throw err
  }
  const chosen = label ?? inputs.keys().next().value
  const list = chosen === undefined ? undefined : inputs.get(chosen)
  const bytes = chosen === undefined ? undefined : signatures.get(chosen)
  if (list === undefined || bytes === undefined) return refuse('ERR_SIGNATURE_MISSING', true)
  if (!isInnerList(list) || isInnerList(bytes) || !(bytes.value instanceof Uint8Array)) return refuse('ERR_SIGNATURE_MALFORMED')
  if (list.items.length > MAX_COMPONENTS) return refuse('ERR_SIGNATURE_TOO_LARGE')
  return { label: chosen!, list, bytes: bytes.value }
}

/** Whether the request carries a body (workerd gives a bodiless request a null body; `Content-Length: 0` counts as none). */
function hasBody(request: Request): boolean {
  return request.body !== null && request.headers.get('content-length') !== '0'
}

export const httpSignaturePolicy = definePolicy({
  type: 'http-signature',
  phase: 'auth',
  schema: HttpSignatureOptionsSchema,
  check(options, ctx) {
    const seen = new Set<string>()
    options.keys.forEach((key, i) => {
      if (seen.has(key.keyId)) ctx.error(`.keys[${i}].keyId`, `"${key.keyId}" is listed twice`)
      seen.add(key.keyId)
      checkNamedConsumer(ctx, `.keys[${i}].consumer`, key.consumer)
    })
    options.components.forEach((name, i) => {
      if (options.components.indexOf(name) !== i) ctx.error(`.components[${i}]`, `"${name}" is listed twice`)
    })
  },
  subrequests(options) {
    return options.requireNonce ? 1 : 0
  },
  create(options, { config, env, at }) {
    const keys = keyVerifiers(options.keys)
    const nonces = env[options.binding] as DurableObjectNamespace<SignatureNonces> | undefined
    if (options.requireNonce && (typeof nonces !== 'object' || nonces === null || typeof nonces.idFromName !== 'function')) {
      throw new ConfigError([`${at}.binding: no Durable Object binding "${options.binding}" (bind the SignatureNonces class in wrangler.toml)`])
    }
    const wanted = ['created', ...(options.requireNonce ? ['nonce'] : [])].join(';')
    const acceptSignature = (body: boolean) =>
      `sig=(${[...options.components, ...(body && options.contentDigest && !options.components.includes('content-digest') ? ['content-digest'] : [])].map((n) => serializeBareItem(n)).join(' ')});${wanted}`

    const reject = (c: Context<AppEnv>, code: string, missing: boolean, keyId?: string): never => {
      // Only a configured key id is logged: an unknown one is whatever text the client chose.
      logAuth(c, { via: 'http-signature', outcome: missing ? 'missing' : 'invalid', code, ...(keyId !== undefined && keys.has(keyId) && { keyId }) })
      throw new GatewayError('ERR_UNAUTHORIZED', {
        detail: missing ? 'This request must be signed (RFC 9421).' : 'The request signature is not valid.',
        headers: { 'WWW-Authenticate': 'Signature', 'Accept-Signature': acceptSignature(hasBody(c.req.raw)) },
      })
    }

    return async function httpSignature(c, next) {
      const now = c.get('runtime').now()
      let keyId: string | undefined
      try {
        const { list, bytes } = readSignature(c.req.header('signature-input'), c.req.header('signature'), options.label)
        const params = list.params
        keyId = typeof params.get('keyid') === 'string' ? (params.get('keyid') as string) : undefined
        const key = keyId === undefined ? undefined : keys.get(keyId)
        if (key === undefined) return refuse(keyId === undefined ? 'ERR_SIGNATURE_MALFORMED' : 'ERR_SIGNATURE_UNKNOWN_KEY')
        const alg = params.get('alg')
        if (alg !== undefined && alg !== key.algorithm) return refuse('ERR_SIGNATURE_ALGORITHM')
        const expiresAt = checkTime(options, params.get('created'), params.get('expires'), now)
        const nonce = params.get('nonce')
        if (nonce !== undefined && (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_NONCE_CHARS)) return refuse('ERR_SIGNATURE_MALFORMED')
        if (options.requireNonce && nonce === undefined) return refuse('ERR_SIGNATURE_NO_NONCE')

        const covered = coveredNames(list)
        const body = hasBody(c.req.raw)
        const required = body && options.contentDigest ? [...options.components, 'content-digest'] : options.components
        if (required.some((name) => !covered.includes(name))) return refuse('ERR_SIGNATURE_NOT_COVERED')
        const base = signatureBase(list, { method: c.req.method, url: new URL(c.req.raw.url), headers: c.req.raw.headers })
        if (!(await verifyWith(c, key, bytes, base))) return refuse('ERR_SIGNATURE_INVALID')
        if (covered.includes('content-digest')) await checkDigest(c, options.maxBodyBytes)

        if (options.requireNonce && !(await claimNonce(c, nonces!, keyId!, nonce as string, expiresAt, now))) return refuse('ERR_SIGNATURE_REPLAYED')
        publishConsumer(c, config, key.consumer, 'http-signature')
        logAuth(c, { via: 'http-signature', outcome: 'ok', keyId: keyId! })
      } catch (err) {
        if (err instanceof Refusal || err instanceof SignatureBaseError) return reject(c, err.code, err instanceof Refusal && err.missing, keyId)
        throw err
      }
      await next()
    }
  },
})

/** Whether `bytes` sign `base`; a key Web Crypto won't import, or bytes it won't take, are a refusal with the cause logged, never a 500. */
async function verifyWith(c: Context<AppEnv>, key: KeyVerifier, bytes: Uint8Array, base: string): Promise<boolean> {
  try {
    return await key.verify(bytes, base)
  } catch (err) {
    c.get('log').errorCause = String(err)
    return refuse('ERR_SIGNATURE_KEY_UNUSABLE')
  }
}

/** Checks `created`/`expires` (seconds) against `now` (ms); returns until when (ms) the signature is acceptable. */
function checkTime(options: Options, created: unknown, expires: unknown, now: number): number {
  if (typeof created !== 'number') return refuse(created === undefined ? 'ERR_SIGNATURE_NO_CREATED' : 'ERR_SIGNATURE_MALFORMED')
  if (expires !== undefined && typeof expires !== 'number') return refuse('ERR_SIGNATURE_MALFORMED')
  const skew = options.clockSkew * 1000
  if (created * 1000 > now + skew) return refuse('ERR_SIGNATURE_FUTURE')
  const until = Math.min((created + options.maxAge) * 1000, expires === undefined ? Infinity : expires * 1000) + skew
  if (now >= until) return refuse('ERR_SIGNATURE_EXPIRED')
  return until
}

/** Reads the body (bounded), keeps it for the origin, and checks it against `Content-Digest`. */
async function checkDigest(c: Context<AppEnv>, maxBodyBytes: number): Promise<void> {
  const draft = c.get('upstreamRequest')
  const tooLarge = () => new GatewayError('ERR_PAYLOAD_TOO_LARGE', { detail: `A signed body is checked up to ${maxBodyBytes} bytes.` })
  if (Number(c.req.header('content-length') ?? 0) > maxBodyBytes) throw tooLarge()
  const stream = draft.body !== undefined ? new Response(draft.body).body : c.req.raw.body
  const bytes = stream === null ? new Uint8Array() : await readUpTo(stream, maxBodyBytes)
  if (bytes === undefined) throw tooLarge()
  // The origin gets the bytes read; a bodiless request keeps none, so a GET stays a GET.
  if (stream !== null) draft.body = bytes.buffer as ArrayBuffer
  const problem = await contentDigestProblem(c.req.header('content-digest') ?? null, bytes)
  if (problem) refuse(problem)
}

async function claimNonce(c: Context<AppEnv>, nonces: DurableObjectNamespace<SignatureNonces>, keyId: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
  try {
    return await nonces.get(nonces.idFromName(keyId)).claim(nonce, expiresAt, now)
  } catch (err) {
    logAuth(c, { via: 'http-signature', outcome: 'unavailable', code: 'ERR_SIGNATURE_NONCE_STORE', keyId })
    c.get('log').errorCause = String(err)
    throw authUnavailable('Signatures cannot be checked for replays right now.', 5)
  }
}
