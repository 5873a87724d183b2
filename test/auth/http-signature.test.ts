/**
 * `http-signature`: requests really signed here (HMAC-SHA256 and Ed25519 through Web Crypto, by a
 * signer written apart from the verifier), through the gateway: the consumer published, the body
 * kept for the origin, and each attack a 401 problem+json: altered method, path, header and body,
 * expired and future signatures, missing nonce, replays (through a second gateway instance sharing
 * the `SignatureNonces` objects), unknown keys, oversized and malformed fields.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { AuthLog } from '../../src/auth/consumer'
import type { SignatureNonces } from '../../src/auth/signature-nonces'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { RequestLog } from '../../src/core/logging'
import { newTag, ORIGIN, testGateway, type Echo, type TestGateway } from '../support/gateway'
import { manualRuntime } from '../support/runtime'
import { contentDigest, ed25519ClientKey, hmacClientKey, signRequest, type ClientKey, type SignOptions } from './signing'

/** A clock of its own, years ahead: the objects' alarms (real time) never fire during a test. */
const START = Date.UTC(2031, 0, 1)
const NOW_S = START / 1000
const URL_WHO = 'http://gateway.test/who?x=1'

/** Key ids of their own: nonces live in Durable Objects every test file shares. */
const unique = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`
const nonce = () => crypto.randomUUID()

function config(keys: ClientKey[], options: Record<string, unknown> = {}): GatewayConfigInput {
  const policy = { type: 'http-signature', keys: keys.map((k) => k.config), ...options } as never
  return {
    consumers: { acme: { metadata: { tier: 'gold' } } },
    upstreams: { origin: { url: ORIGIN } },
    routes: [
      { id: 'who', match: { path: '/who' }, policies: [policy], action: { type: 'respond', body: '{consumer.id} {consumer.metadata.tier}' } },
      { id: 'echo', match: { path: '/echo/*' }, policies: [policy], action: { type: 'proxy', upstream: 'origin' } },
    ],
  }
}

async function setup(options: Record<string, unknown> = {}) {
  const hmac = await hmacClientKey(unique('hmac'))
  const ed = await ed25519ClientKey(unique('ed'))
  const runtime = manualRuntime({ start: START })
  const gw = testGateway(config([hmac, ed], options), {}, { runtime })
  const sign = (key: ClientKey, method: string, url: string, headers: Record<string, string>, extra: Partial<SignOptions> = {}) =>
    signRequest(key, method, url, headers, { components: ['@method', '@authority', '@path'], created: NOW_S, nonce: nonce(), ...extra })
  return { hmac, ed, runtime, gw, sign }
}

async function expect401(res: Response) {
  expect(res.status).toBe(401)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.headers.get('www-authenticate')).toBe('Signature')
  expect(res.headers.get('accept-signature')).toMatch(/^sig=\("@method" "@authority" "@path".*\);created;nonce$/)
  return res.json()
}

const codeOf = (line: RequestLog | undefined) => (line?.auth as AuthLog | undefined)?.code
const lastCode = (gw: TestGateway) => codeOf(gw.logs.at(-1))

describe('http-signature', () => {
  it('lets in a request signed with HMAC-SHA256 or Ed25519 and publishes its consumer', async () => {
    const { hmac, ed, gw, sign } = await setup()
    for (const key of [hmac, ed]) {
      const res = await gw.fetch(URL_WHO, { headers: await sign(key, 'GET', URL_WHO, {}) })
      expect(res.status).toBe(200)
      expect(await res.text()).toBe('acme gold')
      expect(gw.logs.at(-1)?.auth).toEqual({ via: 'http-signature', outcome: 'ok', keyId: key.keyId })
    }
  })

  it('accepts an Ed25519 key given as raw base64 and covers @query, @target-uri, @scheme, @request-target and headers', async () => {
    const raw = await ed25519ClientKey(unique('raw'), 'acme', 'raw')
    const gw = testGateway(config([raw], { components: ['@method', '@target-uri'] }), {}, { runtime: manualRuntime({ start: START }) })
    const components = ['@method', '@authority', '@path', '@query', '@target-uri', '@scheme', '@request-target', 'x-request-tag', 'date']
    const headers = await signRequest(raw, 'GET', URL_WHO, { 'x-request-tag': '  a, b ', date: 'Tue, 20 Apr 2021 02:07:55 GMT' }, { components, created: NOW_S, nonce: nonce() })
    expect((await gw.fetch(URL_WHO, { headers })).status).toBe(200)
  })

  it('checks a signed body against Content-Digest (sha-256 and sha-512) and hands the body to the origin', async () => {
    const { ed, gw, sign } = await setup()
    for (const algorithm of ['sha-256', 'sha-512'] as const) {
      const body = JSON.stringify({ order: algorithm })
      const url = 'http://gateway.test/echo/orders'
      const headers = await sign(ed, 'POST', url, { 'content-type': 'application/json', 'content-digest': await contentDigest(body, algorithm), 'x-test-tag': newTag() }, { components: ['@method', '@authority', '@path', 'content-digest'] })
      const res = await gw.fetch(url, { method: 'POST', headers, body })
      expect(res.status).toBe(200)
      expect(((await res.json()) as Echo).body).toBe(body)
    }
    const url = 'http://gateway.test/echo/empty'
    const headers = await sign(ed, 'GET', url, { 'content-digest': await contentDigest(''), 'x-test-tag': newTag() }, { components: ['@method', '@authority', '@path', 'content-digest'] })
    const res = await gw.fetch(url, { headers })
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).method).toBe('GET')
  })

  it('refuses a body that does not match its digest, a body not covered by content-digest, and a body over maxBodyBytes (413)', async () => {
    const { ed, gw, sign } = await setup({ maxBodyBytes: 64 })
    const url = 'http://gateway.test/echo/orders'
    const withDigest = { components: ['@method', '@authority', '@path', 'content-digest'] }
    const signed = await sign(ed, 'POST', url, { 'content-digest': await contentDigest('{"amount":1}') }, withDigest)
    await expect401(await gw.fetch(url, { method: 'POST', headers: signed, body: '{"amount":1000}' }))
    expect(lastCode(gw)).toBe('ERR_CONTENT_DIGEST_MISMATCH')

    await expect401(await gw.fetch(url, { method: 'POST', headers: await sign(ed, 'POST', url, {}), body: 'unsigned' }))
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_NOT_COVERED')

    const big = 'x'.repeat(65)
    const res = await gw.fetch(url, { method: 'POST', headers: await sign(ed, 'POST', url, { 'content-digest': await contentDigest(big) }, withDigest), body: big })
    expect(res.status).toBe(413)
  })

  it('refuses a signed request whose method, path, covered header or digest header was altered', async () => {
    const { hmac, gw, sign } = await setup()
    const headers = await sign(hmac, 'GET', URL_WHO, { 'x-account': '1' }, { components: ['@method', '@authority', '@path', 'x-account'] })
    await expect401(await gw.fetch(URL_WHO, { method: 'DELETE', headers }))
    await expect401(await gw.fetch('http://gateway.test/echo/who', { headers }))
    await expect401(await gw.fetch(URL_WHO, { headers: { ...headers, 'x-account': '2' } }))
    const { 'x-account': _, ...withoutHeader } = headers
    await expect401(await gw.fetch(URL_WHO, { headers: withoutHeader }))
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_COMPONENT_MISSING')
    expect(gw.logs.slice(-4, -1).map(codeOf)).toEqual(['ERR_SIGNATURE_INVALID', 'ERR_SIGNATURE_INVALID', 'ERR_SIGNATURE_INVALID'])
  })

  it('refuses expired, future and past-expires signatures on the runtime clock, within the configured skew', async () => {
    const { hmac, gw, runtime, sign } = await setup({ maxAge: 60, clockSkew: 5 })
    const send = async (extra: Partial<SignOptions>) => (await gw.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}, extra) })).status
    expect(await send({ created: NOW_S - 64 })).toBe(200)
    expect(await send({ created: NOW_S - 66 })).toBe(401)
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_EXPIRED')
    expect(await send({ created: NOW_S + 4 })).toBe(200)
    expect(await send({ created: NOW_S + 6 })).toBe(401)
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_FUTURE')
    expect(await send({ expires: NOW_S - 6 })).toBe(401)
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_EXPIRED')
    const later = await sign(hmac, 'GET', URL_WHO, {})
    await runtime.advance(66_000)
    await expect401(await gw.fetch(URL_WHO, { headers: later }))
  })

  it('refuses a replay, also through a second gateway instance, and a signature without a nonce', async () => {
    const { hmac, gw, sign } = await setup()
    const other = testGateway(config([hmac]), {}, { runtime: manualRuntime({ start: START }) })
    const headers = await sign(hmac, 'GET', URL_WHO, {})
    expect((await gw.fetch(URL_WHO, { headers })).status).toBe(200)
    await expect401(await gw.fetch(URL_WHO, { headers }))
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_REPLAYED')
    await expect401(await other.fetch(URL_WHO, { headers }))
    expect(lastCode(other)).toBe('ERR_SIGNATURE_REPLAYED')

    await expect401(await gw.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}, { nonce: undefined }) }))
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_NO_NONCE')
  })

  it('keeps nonces only while their signature could be valid: the object deletes expired ones on its alarm', async () => {
    const { hmac, gw, sign } = await setup({ maxAge: 60, clockSkew: 0 })
    expect((await gw.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}) })).status).toBe(200)
    const stub = env.SIGNATURE_NONCES.get(env.SIGNATURE_NONCES.idFromName(hmac.keyId))
    expect(await stub.size()).toBe(1)
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBe(START + 60_000)
    await runInDurableObject(stub, (object) => {
      ;(object as SignatureNonces).runtime = manualRuntime({ start: START + 60_000 })
    })
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    expect(await runInDurableObject(stub, (_, state) => state.storage.getAlarm())).toBeNull()
    expect(await stub.size()).toBe(0)
  })

  it('without requireNonce, lets a signature without nonce in', async () => {
    const { hmac, gw, sign } = await setup({ requireNonce: false })
    expect((await gw.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}, { nonce: undefined }) })).status).toBe(200)
  })

  it('refuses missing signatures, unknown keys, a wrong alg, uncovered components and a label not sent', async () => {
    const { hmac, gw, sign } = await setup()
    expect(await expect401(await gw.fetch(URL_WHO))).toMatchObject({ status: 401, detail: 'This request must be signed (RFC 9421).' })
    expect(lastCode(gw)).toBe('ERR_SIGNATURE_MISSING')
    const cases: [Partial<SignOptions>, string][] = [
      [{ keyId: 'nobody-knows-me' }, 'ERR_SIGNATURE_UNKNOWN_KEY'],
      [{ alg: 'ed25519' }, 'ERR_SIGNATURE_ALGORITHM'],
      [{ components: ['@method', '@path'] }, 'ERR_SIGNATURE_NOT_COVERED'],
      [{ components: ['@method', '@authority', '@path', '@query-param'] }, 'ERR_SIGNATURE_COMPONENT_UNSUPPORTED'],
    ]
    for (const [extra, code] of cases) {
      await expect401(await gw.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}, extra) }))
      expect(gw.logs.at(-1)?.auth).toEqual({ via: 'http-signature', outcome: 'invalid', code, ...(extra.keyId === undefined && { keyId: hmac.keyId }) })
    }
    const labelled = testGateway(config([hmac], { label: 'gw' }), {}, { runtime: manualRuntime({ start: START }) })
    await expect401(await labelled.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}) }))
    expect(lastCode(labelled)).toBe('ERR_SIGNATURE_MISSING')
    expect((await labelled.fetch(URL_WHO, { headers: await sign(hmac, 'GET', URL_WHO, {}, { label: 'gw' }) })).status).toBe(200)
  })

  it('answers huge and malformed Signature-Input and Signature fields with 401, never a 500', async () => {
    const { hmac, ed: edKey, gw, sign } = await setup()
    const good = await sign(hmac, 'GET', URL_WHO, {})
    const inputs = [
      `sig1=(${'"@method" '.repeat(600)})`,
      `sig1=(${Array.from({ length: 40 }, (_, i) => `"x-h${i}"`).join(' ')});created=${NOW_S};keyid="${hmac.keyId}";nonce="n"`,
      'sig1=("@method"', 'sig1=("@method");created=1.5', 'sig1=("@method");created="now"', 'sig1=("@method" "@method")', 'sig1="@method"',
      'sig1=("@method");keyid=tok', 'SIG1=("@method")', 'sig1=("@method"),', 'sig1=("a\\b")', 'sig1=("Content-Type")', 'sig1=("@method";sf)',
      `sig1=("@method");created=${NOW_S};keyid="${hmac.keyId}";nonce=""`, `sig1=("@method");created=9999999999999999;keyid="${hmac.keyId}"`,
    ]
    for (const input of inputs) await expect401(await gw.fetch(URL_WHO, { headers: { ...good, 'signature-input': input } }))
    // Ed25519 signatures of the wrong length, under the right key: refused, not a 500.
    const ed = await sign(edKey, 'GET', URL_WHO, {})
    for (const signature of ['sig1=:YWJj:', `sig1=:${btoa('x'.repeat(65))}:`]) {
      await expect401(await gw.fetch(URL_WHO, { headers: { ...ed, signature } }))
      expect(lastCode(gw)).toBe('ERR_SIGNATURE_INVALID')
    }
    for (const signature of ['sig1=:not base64!:', 'sig1=("a")', 'sig1=:YQ:', `sig1=:${'A'.repeat(5000)}:`, 'other=:YWJj:']) {
      await expect401(await gw.fetch(URL_WHO, { headers: { ...good, signature } }))
    }
  })
})
