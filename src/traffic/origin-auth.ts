/**
 * @module
 * `origin-auth`: the gateway proves itself to the origin, so the origin can refuse traffic that
 * bypassed it. Each upstream request carries
 *
 *   X-Edgeway-Signature: t=<unix seconds>,rid=<request id>.<16 hex random>,v1=<hex HMAC-SHA256>
 *
 * over `<t>\n<rid>\n<METHOD>\n<path and query as the origin receives them>`, keyed with a Worker
 * secret named in the config (never the secret itself). It is computed just before each try leaves
 * (a `beforeSend` hook that `callUpstream` runs per try: retries, fallback, mirror and aggregation
 * calls included), after every rewrite, so it covers exactly what that try's origin sees. `rid` is
 * a nonce, unique per try: the request id alone is not (a retry reuses it, and so may a client
 * with `request-id` `trustIncoming`). The origin checks the HMAC, that `t` is within its replay
 * window, and that it hasn't seen `rid` in that window (docs: "Origin authentication" has a
 * reference verifier). The body is not signed. A client-sent header of the same name is dropped.
 *
 * @example
 * { "type": "origin-auth", "secret": "ORIGIN_SIGNING_SECRET" }
 */
import * as v from 'valibot'
import { HeaderName, Name } from '../core/schema'
import { ConfigError } from '../core/errors'
import { definePolicy } from '../core/policy'
import { toHex } from '../core/encoding'

const encoder = new TextEncoder()


/** The signed text; an origin rebuilds it from the header's `t` and `rid` and its own request. */
export function signaturePayload(t: number, rid: string, method: string, target: string): string {
  return `${t}\n${rid}\n${method}\n${target}`
}

export const originAuthPolicy = definePolicy({
  type: 'origin-auth',
  phase: 'transform',
  schema: v.strictObject({
    type: v.literal('origin-auth'),
    secret: v.pipe(Name, v.description(SCHEMA_DOCS ? 'Name of the Worker secret holding the HMAC key (`wrangler secret put NAME`).' : '')),
    header: v.optional(HeaderName, 'X-Edgeway-Signature'),
  }),
  create(options, build) {
    const secret = build.env[options.secret]
    if (typeof secret !== 'string' || secret.length === 0) {
      throw new ConfigError([`${build.at}.secret: Worker secret "${options.secret}" is not set`])
    }
    const { header } = options
    let key: CryptoKey | undefined
    return async function originAuth(c, next) {
      const draft = c.get('upstreamRequest')
      draft.headers.delete(header)
      const rid = c.get('requestId')
      ;(draft.beforeSend ??= []).push(async (request) => {
        key ??= await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
        const url = new URL(request.url)
        const t = Math.floor(c.get('runtime').now() / 1000)
        const nonce = `${rid}.${toHex(crypto.getRandomValues(new Uint8Array(8)))}`
        const mac = await crypto.subtle.sign('HMAC', key, encoder.encode(signaturePayload(t, nonce, request.method, url.pathname + url.search)))
        request.headers.set(header, `t=${t},rid=${nonce},v1=${toHex(mac)}`)
      })
      await next()
    }
  },
})
