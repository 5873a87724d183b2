/**
 * @module
 * `mtls`: client certificates. Cloudflare terminates TLS and, when mTLS is on for the hostname
 * (API Shield or Access), hands the Worker `request.cf.tlsClientAuth`; this policy maps the
 * certificate, by SHA-256 fingerprint or by subject DN (optionally pinned to an issuer DN), to a
 * configured consumer, published like any other authentication.
 *
 * Only `certVerified === "SUCCESS"` with `certRevoked === "0"` passes. `certVerified` says nothing
 * about revocation, so both are checked.
 * - 401 (the credential is missing or no good; `WWW-Authenticate: ClientCertificate`, since HTTP
 *   requires a challenge on a 401 and none is registered for TLS): no `tlsClientAuth` at all (mTLS
 *   off for the hostname, or the Worker called without Cloudflare's edge), the no-certificate
 *   placeholder (`certPresented: "0"`, `certVerified: "NONE"`), a failed verification
 *   (`"FAILED:..."`), a revoked certificate.
 * - 403: a verified, unrevoked certificate that no entry names: who the caller is is proven, but
 *   the config doesn't let it in, and another try with the same certificate can't change that.
 * Fingerprints and DNs are public, not secrets: they are looked up, not compared in constant time.
 *
 * @example
 * { "type": "mtls", "certificates": [
 *   { "fingerprint": "3f1c...e9", "consumer": "acme" },
 *   { "subject": "CN=billing.acme.example,O=Acme", "issuer": "CN=Acme CA,O=Acme", "consumer": "acme" }] }
 */
import type { Context } from 'hono'
import * as v from 'valibot'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import { definePolicy } from '../core/policy'
import { Name } from '../core/schema'
import { checkNamedConsumer, logAuth, publishConsumer, unauthorized } from './consumer'

const CHALLENGE = 'ClientCertificate'

/** Lower-case hex without separators: how `certFingerprintSHA256` reads, whatever the config wrote. */
const normalFingerprint = (text: string) => text.replaceAll(':', '').toLowerCase()

const Fingerprint = v.pipe(
  v.string(),
  v.check((text) => /^[0-9a-f]{64}$/.test(normalFingerprint(text)), 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed ("3f:1c:...")'),
)
const DistinguishedName = v.pipe(v.string(), v.trim(), v.minLength(1, 'cannot be empty'), v.maxLength(1024, 'at most 1024 characters'))

const CertificateSchema = v.pipe(
  v.strictObject({
    fingerprint: v.pipe(v.optional(Fingerprint), v.description(SCHEMA_DOCS ? 'SHA-256 of the certificate (`certFingerprintSHA256`).' : '')),
    subject: v.pipe(v.optional(DistinguishedName), v.description(SCHEMA_DOCS ? 'Subject DN as RFC 2253 writes it (`certSubjectDNRFC2253`), exactly.' : '')),
    issuer: v.pipe(v.optional(DistinguishedName), v.description(SCHEMA_DOCS ? 'With `subject`: only from this issuer (`certIssuerDNRFC2253`).' : '')),
    consumer: v.pipe(Name, v.description(SCHEMA_DOCS ? 'The configured consumer this certificate is.' : '')),
  }),
  v.check((c) => (c.fingerprint === undefined) !== (c.subject === undefined), 'set exactly one of "fingerprint" or "subject"'),
  v.check((c) => c.issuer === undefined || c.subject !== undefined, '"issuer" narrows a "subject" entry: set "subject" too'),
)

export const MtlsOptionsSchema = v.strictObject({
  type: v.literal('mtls'),
  certificates: v.pipe(v.array(CertificateSchema), v.minLength(1, 'list at least one certificate')),
})

type ClientAuth = Partial<IncomingRequestCfPropertiesTLSClientAuth> | Partial<IncomingRequestCfPropertiesTLSClientAuthPlaceholder>

/** Why a certificate can't authenticate (a log code), or undefined when it is verified and not revoked. */
function refusal(auth: ClientAuth | undefined): string | undefined {
  if (!auth || typeof auth !== 'object') return 'ERR_MTLS_OFF'
  const verified: string | undefined = auth.certVerified
  if (auth.certPresented !== '1' || verified === 'NONE') return 'ERR_MTLS_NO_CERTIFICATE'
  if (verified !== 'SUCCESS') return 'ERR_MTLS_NOT_VERIFIED'
  if (auth.certRevoked !== '0') return 'ERR_MTLS_REVOKED'
  return undefined
}

export const mtlsPolicy = definePolicy({
  type: 'mtls',
  phase: 'auth',
  schema: MtlsOptionsSchema,
  check(options, ctx) {
    const seen = new Set<string>()
    options.certificates.forEach((entry, i) => {
      const key = entry.fingerprint !== undefined ? `fingerprint ${normalFingerprint(entry.fingerprint)}` : `subject ${entry.subject} issuer ${entry.issuer ?? '*'}`
      if (seen.has(key)) ctx.error(`.certificates[${i}]`, `the same ${entry.fingerprint !== undefined ? 'fingerprint' : 'subject and issuer'} is listed twice`)
      seen.add(key)
      checkNamedConsumer(ctx, `.certificates[${i}].consumer`, entry.consumer)
    })
  },
  create(options, { config }) {
    const byFingerprint = new Map<string, string>()
    const bySubject = new Map<string, { issuer: string | undefined; consumer: string }[]>()
    for (const entry of options.certificates) {
      if (entry.fingerprint !== undefined) byFingerprint.set(normalFingerprint(entry.fingerprint), entry.consumer)
      else bySubject.set(entry.subject!, [...(bySubject.get(entry.subject!) ?? []), { issuer: entry.issuer, consumer: entry.consumer }])
    }
    const consumerOf = (auth: Partial<IncomingRequestCfPropertiesTLSClientAuth>): string | undefined => {
      const byPrint = byFingerprint.get(normalFingerprint(auth.certFingerprintSHA256 ?? ''))
      if (byPrint !== undefined) return byPrint
      const subject = auth.certSubjectDNRFC2253?.trim()
      const issuer = auth.certIssuerDNRFC2253?.trim()
      return bySubject.get(subject ?? '')?.find((entry) => entry.issuer === undefined || entry.issuer === issuer)?.consumer
    }

    const reject = (c: Context<AppEnv>, code: string): never => {
      logAuth(c, { via: 'mtls', outcome: code === 'ERR_MTLS_OFF' || code === 'ERR_MTLS_NO_CERTIFICATE' ? 'missing' : 'invalid', code })
      throw unauthorized(
        code === 'ERR_MTLS_OFF' || code === 'ERR_MTLS_NO_CERTIFICATE' ? 'A client certificate is required.' : 'The client certificate is not accepted.',
        CHALLENGE,
      )
    }

    return async function mtls(c, next) {
      const auth = (c.req.raw.cf as { tlsClientAuth?: ClientAuth } | undefined)?.tlsClientAuth
      const problem = refusal(auth)
      if (problem) return reject(c, problem)
      const consumer = consumerOf(auth as Partial<IncomingRequestCfPropertiesTLSClientAuth>)
      if (consumer === undefined) {
        logAuth(c, { via: 'mtls', outcome: 'forbidden', code: 'ERR_MTLS_UNKNOWN_CERTIFICATE' })
        throw new GatewayError('ERR_FORBIDDEN', { detail: 'This client certificate is not allowed here.' })
      }
      publishConsumer(c, config, consumer, 'mtls')
      logAuth(c, { via: 'mtls', outcome: 'ok' })
      await next()
    }
  },
})
