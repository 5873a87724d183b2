/**
 * `mtls`: `request.cf.tlsClientAuth` as Cloudflare hands it (typed as the workers-types interfaces,
 * the no-certificate placeholder included) mapped to consumers; every other state refused.
 */
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { configProblems } from '../support/config'
import { testGateway } from '../support/gateway'

const ACME_PRINT = '3f1c6a0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a'
const ACME_CA = 'CN=Acme Issuing CA,O=Acme,C=DE'

/** A verified, unrevoked certificate as Cloudflare describes it; `change` alters what a test needs. */
function certificate(change: Partial<IncomingRequestCfPropertiesTLSClientAuth> = {}): IncomingRequestCfPropertiesTLSClientAuth {
  return {
    certPresented: '1',
    certVerified: 'SUCCESS',
    certRevoked: '0',
    certIssuerDN: 'CN=Acme Issuing CA, O=Acme, C=DE',
    certSubjectDN: 'CN=ci.acme.example, O=Acme',
    certIssuerDNRFC2253: ACME_CA,
    certSubjectDNRFC2253: 'CN=ci.acme.example,O=Acme',
    certIssuerDNLegacy: '/C=DE/O=Acme/CN=Acme Issuing CA',
    certSubjectDNLegacy: '/O=Acme/CN=ci.acme.example',
    certSerial: '00936EACBE07F201DF',
    certIssuerSerial: '2489002934BDFEA34',
    certSKI: 'BB:AF:7E:02:3D:FA:A6:F1:3C:84:8E:AD:EE:38:98:EC:D9:32:32:D4',
    certIssuerSKI: 'AA:AF:7E:02:3D:FA:A6:F1:3C:84:8E:AD:EE:38:98:EC:D9:32:32:D4',
    certFingerprintSHA1: '6b9109f323999e52259cda7373ff0b4d26bd232e',
    certFingerprintSHA256: 'aaaa6a0b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a',
    certNotBefore: 'Dec 22 19:39:00 2025 GMT',
    certNotAfter: 'Dec 22 19:39:00 2027 GMT',
    certRFC9440: ':MIIB:',
    certRFC9440TooLarge: false,
    certChainRFC9440: '',
    certChainRFC9440TooLarge: false,
    ...change,
  } as IncomingRequestCfPropertiesTLSClientAuth
}

/** What Cloudflare sends when mTLS is on for the hostname but the client presented no certificate. */
const NO_CERTIFICATE: IncomingRequestCfPropertiesTLSClientAuthPlaceholder = {
  certPresented: '0',
  certVerified: 'NONE',
  certRevoked: '0',
  certIssuerDN: '',
  certSubjectDN: '',
  certIssuerDNRFC2253: '',
  certSubjectDNRFC2253: '',
  certIssuerDNLegacy: '',
  certSubjectDNLegacy: '',
  certSerial: '',
  certIssuerSerial: '',
  certSKI: '',
  certIssuerSKI: '',
  certFingerprintSHA1: '',
  certFingerprintSHA256: '',
  certNotBefore: '',
  certNotAfter: '',
  certRFC9440: '',
  certRFC9440TooLarge: false,
  certChainRFC9440: '',
  certChainRFC9440TooLarge: false,
}

const config: GatewayConfigInput = {
  consumers: { acme: { metadata: { team: 'ci' } }, globex: {} },
  routes: [
    {
      id: 'who',
      match: { path: '/who' },
      policies: [
        {
          type: 'mtls',
          certificates: [
            // Written with colons and in capitals: compared as Cloudflare reports it.
            { fingerprint: ACME_PRINT.toUpperCase().match(/../g)!.join(':'), consumer: 'acme' },
            { subject: 'CN=ci.acme.example,O=Acme', issuer: ACME_CA, consumer: 'acme' },
            { subject: 'CN=batch.globex.example,O=Globex', consumer: 'globex' },
          ],
        },
      ],
      action: { type: 'respond', body: '{consumer.id} {consumer.metadata.team}' },
    },
  ],
}
const gw = testGateway(config)

const call = (tlsClientAuth: unknown, cf: Record<string, unknown> | undefined = { tlsClientAuth }) =>
  gw.fetch('/who', { ...(cf !== undefined && { cf }) } as RequestInit)

async function refused(res: Response, status: 401 | 403, code: string) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.headers.get('www-authenticate')).toBe(status === 401 ? 'ClientCertificate' : null)
  expect(((await res.json()) as { code: string }).code).toBe(status === 401 ? 'ERR_UNAUTHORIZED' : 'ERR_FORBIDDEN')
  expect(gw.logs.at(-1)?.auth).toMatchObject({ via: 'mtls', code })
}

describe('mtls', () => {
  it('maps a verified certificate by fingerprint, or by subject from the pinned issuer, to its consumer', async () => {
    const byPrint = await call(certificate({ certFingerprintSHA256: ACME_PRINT }))
    expect(byPrint.status).toBe(200)
    expect(await byPrint.text()).toBe('acme ci')
    expect(gw.logs.at(-1)).toMatchObject({ consumer: 'acme', auth: { via: 'mtls', outcome: 'ok' } })
    expect(await (await call(certificate())).text()).toBe('acme ci')
    expect(await (await call(certificate({ certSubjectDNRFC2253: 'CN=batch.globex.example,O=Globex', certIssuerDNRFC2253: 'CN=Any CA' }))).text()).toBe('globex ')
  })

  it('401: no cf, mTLS off for the hostname, the no-certificate placeholder', async () => {
    await refused(await call(undefined, undefined), 401, 'ERR_MTLS_OFF')
    await refused(await call(undefined, { country: 'DE' }), 401, 'ERR_MTLS_OFF')
    await refused(await call(NO_CERTIFICATE), 401, 'ERR_MTLS_NO_CERTIFICATE')
  })

  it('401: a certificate that failed verification, in any of its FAILED forms, even with a known fingerprint', async () => {
    const failures: IncomingRequestCfPropertiesTLSClientAuth['certVerified'][] = [
      'FAILED:self signed certificate',
      'FAILED:unable to verify the first certificate',
      'FAILED:certificate is not yet valid',
      'FAILED:certificate has expired',
      'FAILED',
    ]
    for (const certVerified of failures) await refused(await call(certificate({ certVerified, certFingerprintSHA256: ACME_PRINT })), 401, 'ERR_MTLS_NOT_VERIFIED')
    // A value outside the documented set is no success either.
    await refused(await call(certificate({ certVerified: 'success' as never })), 401, 'ERR_MTLS_NOT_VERIFIED')
  })

  it('401: a revoked certificate, though verified (certVerified says nothing about revocation)', async () => {
    await refused(await call(certificate({ certRevoked: '1', certFingerprintSHA256: ACME_PRINT })), 401, 'ERR_MTLS_REVOKED')
    await refused(await call(certificate({ certRevoked: undefined as never })), 401, 'ERR_MTLS_REVOKED')
  })

  it('403: a verified certificate nobody listed, or a listed subject from another issuer', async () => {
    await refused(await call(certificate({ certSubjectDNRFC2253: 'CN=intruder.example' })), 403, 'ERR_MTLS_UNKNOWN_CERTIFICATE')
    await refused(await call(certificate({ certIssuerDNRFC2253: 'CN=Rogue CA,O=Acme,C=DE' })), 403, 'ERR_MTLS_UNKNOWN_CERTIFICATE')
    // A subject DN written another way (spaces after commas) is another subject: RFC 2253 form only.
    await refused(await call(certificate({ certSubjectDNRFC2253: 'CN=ci.acme.example, O=Acme' })), 403, 'ERR_MTLS_UNKNOWN_CERTIFICATE')
  })
})

describe('mtls config', () => {
  const problems = (certificates: unknown[]) =>
    configProblems({ consumers: { acme: {} }, routes: [{ id: 'r', match: { path: '/' }, policies: [{ type: 'mtls', certificates }], action: { type: 'respond' } }] })
  const at = 'routes[0].policies[0].certificates'

  it.each([
    ['a short fingerprint', [{ fingerprint: 'abcd', consumer: 'acme' }], [`${at}[0].fingerprint: must be a SHA-256 fingerprint: 64 hex digits, colons allowed ("3f:1c:...")`]],
    ['a SHA-1 fingerprint', [{ fingerprint: '6b9109f323999e52259cda7373ff0b4d26bd232e', consumer: 'acme' }], [`${at}[0].fingerprint: must be a SHA-256 fingerprint: 64 hex digits, colons allowed ("3f:1c:...")`]],
    ['neither fingerprint nor subject', [{ consumer: 'acme' }], [`${at}[0]: set exactly one of "fingerprint" or "subject"`]],
    ['both', [{ fingerprint: ACME_PRINT, subject: 'CN=x', consumer: 'acme' }], [`${at}[0]: set exactly one of "fingerprint" or "subject"`]],
    ['an issuer without a subject', [{ fingerprint: ACME_PRINT, issuer: 'CN=x', consumer: 'acme' }], [`${at}[0]: "issuer" narrows a "subject" entry: set "subject" too`]],
    ['an empty subject', [{ subject: ' ', consumer: 'acme' }], [`${at}[0].subject: cannot be empty`]],
    ['an unknown consumer', [{ fingerprint: ACME_PRINT, consumer: 'nobody' }], [`${at}[0].consumer: unknown consumer "nobody" (add it under "consumers")`]],
    ['the same fingerprint twice', [{ fingerprint: ACME_PRINT, consumer: 'acme' }, { fingerprint: ACME_PRINT.toUpperCase(), consumer: 'acme' }], [`${at}[1]: the same fingerprint is listed twice`]],
    ['no certificates', [], [`${at}: list at least one certificate`]],
  ])('refuses %s', (_, certificates, expected) => {
    expect(problems(certificates)).toEqual(expected)
  })
})
