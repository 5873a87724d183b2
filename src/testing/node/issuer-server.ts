/**
 * @module
 * The test kit's OIDC issuer (`edgeway/testing`, Node side), started by the kit's global setup:
 * a controllable OpenID Connect identity provider for tests, on 127.0.0.1. It publishes keys; the
 * tests (inside workerd) generate the key pairs with jose, sign their own tokens and hand the
 * public halves over here, so every signature is real.
 *
 * Each test uses its own tenant, created on first use, whose issuer is `<url>/t/<tenant>`:
 *   GET /t/T/.well-known/openid-configuration   { issuer, jwks_uri } (or the override below)
 *   GET /t/T/jwks                               the published JWKS, per the tenant's mode
 *   POST /t/T/introspect                        RFC 7662 token introspection (form body `token=`),
 *                                               client credentials by HTTP Basic; per the tenant's
 *                                               introspection mode; an unknown token is inactive
 *   GET  /t/T/authorize                         the authorization code flow: signs the tenant's user
 *                                               in at once (no login page) and redirects to
 *                                               `redirect_uri` with `code` and `state`; needs PKCE (S256)
 *   POST /t/T/token                             `grant_type=authorization_code`: the code (once, within
 *                                               60 s), `redirect_uri` and `client_id` as at authorize,
 *                                               `code_verifier` against the challenge -> an ID token
 *                                               (with the authorize `nonce`) signed by the tenant's own
 *                                               RS256 key, published in its JWKS beside the test's keys
 *
 * Control (per tenant):
 *   PUT /t/T/_control/keys        body: a JWKS of public keys to publish (rotation)
 *   PUT /t/T/_control/mode        body: { jwks: "ok" | "down" | "huge" | "garbage", delayMs?: n }
 *   PUT /t/T/_control/discovery   body: the discovery document to serve instead (e.g. a wrong issuer)
 *   PUT /t/T/_control/introspection  body: { client: [id, secret], tokens: { <token>: response },
 *                                   mode?: "ok" | "down" | "garbage", delayMs?: n }
 *   PUT /t/T/_control/user        body: { sub, email? }: who `authorize` signs in (default "developer-1")
 *   GET /t/T/_control/stats       { jwksFetches, discoveryFetches, introspections (once set up) }
 */
import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'

type Mode = { jwks: 'ok' | 'down' | 'huge' | 'garbage'; delayMs?: number }
type Introspection = { client: [string, string]; tokens: Record<string, unknown>; mode?: 'ok' | 'down' | 'garbage'; delayMs?: number }
type Tenant = { keys: unknown[]; mode: Mode; discovery?: unknown; jwksFetches: number; discoveryFetches: number; introspection?: Introspection; introspections: number } & CodeFlow
/** The authorization code flow's state: the signed-in user, codes not yet redeemed, the signing key. */
export type CodeFlow = { user?: { sub: string; email?: string }; codes?: Map<string, Grant>; signer?: { key: CryptoKey; kid: string } }
type Grant = { clientId: string; redirectUri: string; nonce?: string; challenge: string; issuedAt: number }

export type TestIssuer = { url: string; close(): Promise<void> }

const MAX_BODY = 1_000_000

/**
 * `GET /authorize`: a code for the tenant's user, sent back to the client's `redirect_uri`.
 * Exported with `redeem` for the demo's issuer (demo/issuer.mjs), which serves the same flow.
 */
export function authorize(t: CodeFlow, url: URL, res: http.ServerResponse) {
  const q = url.searchParams
  const redirectUri = q.get('redirect_uri') ?? ''
  if (!/^https?:\/\//.test(redirectUri) || !q.get('client_id')) return res.writeHead(400).end('bad redirect_uri or client_id')
  const back = new URL(redirectUri)
  if (q.get('state') !== null) back.searchParams.set('state', q.get('state')!)
  if (q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge') || !(q.get('scope') ?? '').split(' ').includes('openid')) {
    back.searchParams.set('error', 'invalid_request')
  } else {
    const code = randomBytes(16).toString('base64url')
    ;(t.codes ??= new Map()).set(code, { clientId: q.get('client_id')!, redirectUri, nonce: q.get('nonce') ?? undefined, challenge: q.get('code_challenge')!, issuedAt: Date.now() })
    back.searchParams.set('code', code)
  }
  res.writeHead(302, { location: back.href }).end()
}

/** `POST /token`: the ID token for a code, once, when the client proves it started the flow; its key is added to `t.keys`. */
export async function redeem(t: CodeFlow & { keys: unknown[] }, issuer: string, form: URLSearchParams): Promise<[number, unknown]> {
  const code = form.get('code') ?? ''
  const grant = t.codes?.get(code)
  t.codes?.delete(code)
  const verifier = form.get('code_verifier') ?? ''
  const challenge = createHash('sha256').update(verifier).digest('base64url')
  if (form.get('grant_type') !== 'authorization_code' || !grant || Date.now() - grant.issuedAt > 60_000) return [400, { error: 'invalid_grant' }]
  if (grant.redirectUri !== form.get('redirect_uri') || grant.clientId !== form.get('client_id') || grant.challenge !== challenge) return [400, { error: 'invalid_grant' }]
  if (!t.signer) {
    const { privateKey, publicKey } = await generateKeyPair('RS256')
    t.signer = { key: privateKey, kid: `code-flow-${randomBytes(4).toString('hex')}` }
    t.keys = [...t.keys, { ...(await exportJWK(publicKey)), kid: t.signer.kid, alg: 'RS256', use: 'sig' }]
  }
  const user = t.user ?? { sub: 'developer-1' }
  const idToken = await new SignJWT({ ...(user.email !== undefined && { email: user.email }), ...(grant.nonce !== undefined && { nonce: grant.nonce }) })
    .setProtectedHeader({ alg: 'RS256', kid: t.signer.kid })
    .setIssuer(issuer)
    .setAudience(grant.clientId)
    .setSubject(user.sub)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(t.signer.key)
  return [200, { id_token: idToken, access_token: randomBytes(16).toString('base64url'), token_type: 'Bearer', expires_in: 300 }]
}

export async function startIssuer(port = 0): Promise<TestIssuer> {
  const tenants = new Map<string, Tenant>()
  const tenant = (name: string) => {
    let t = tenants.get(name)
    if (!t) tenants.set(name, (t = { keys: [], mode: { jwks: 'ok' }, jwksFetches: 0, discoveryFetches: 0, introspections: 0 }))
    return t
  }
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }
  const readJson = async (req: http.IncomingMessage) => JSON.parse((await readText(req)) || '{}') as unknown
  const readText = (req: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let text = ''
      req.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8')
        if (text.length > MAX_BODY) req.destroy()
      })
      req.on('end', () => resolve(text))
      req.on('error', reject)
    })

  let base = ''
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://issuer.test')
    const m = /^\/t\/([A-Za-z0-9_-]{1,64})(\/.*)$/.exec(url.pathname)
    if (!m) return send(res, 404, { error: 'use /t/<tenant>/...' })
    const [, name, rest] = m as unknown as [string, string, string]
    const t = tenant(name)
    const issuer = `${base}/t/${name}`
    try {
      if (rest === '/.well-known/openid-configuration' && req.method === 'GET') {
        t.discoveryFetches++
        return send(
          res,
          200,
          t.discovery ?? { issuer, jwks_uri: `${issuer}/jwks`, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, id_token_signing_alg_values_supported: ['RS256'] },
        )
      }
      if (rest === '/authorize' && req.method === 'GET') return authorize(t, url, res)
      if (rest === '/token' && req.method === 'POST') return send(res, ...(await redeem(t, issuer, new URLSearchParams(await readText(req)))))
      if (rest === '/_control/user' && req.method === 'PUT') {
        t.user = (await readJson(req)) as CodeFlow['user']
        return send(res, 200, { ok: true })
      }
      if (rest === '/jwks' && req.method === 'GET') {
        t.jwksFetches++
        if (t.mode.delayMs) await new Promise((resolve) => setTimeout(resolve, Math.min(t.mode.delayMs!, 10_000)))
        switch (t.mode.jwks) {
          case 'down':
            return send(res, 503, { error: 'down' })
          case 'garbage':
            return send(res, 200, '{"keys": [')
          case 'huge':
            // Valid JSON, but far over any sane JWKS size: a padded key list.
            return send(res, 200, { keys: t.keys, padding: 'x'.repeat(200_000) })
          default:
            return send(res, 200, { keys: t.keys })
        }
      }
      if (rest === '/introspect' && req.method === 'POST') {
        t.introspections++
        const config = t.introspection
        if (config?.delayMs) await new Promise((resolve) => setTimeout(resolve, Math.min(config.delayMs!, 10_000)))
        // RFC 6749 2.3.1: id and secret are form-encoded, joined by ":", then Base64.
        const pair = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8').split(':')
        const formDecode = (text = '') => decodeURIComponent(text.replaceAll('+', ' '))
        if (!config || pair.length !== 2 || formDecode(pair[0]) !== config.client[0] || formDecode(pair[1]) !== config.client[1]) {
          return send(res, 401, { error: 'invalid_client' })
        }
        if (config!.mode === 'down') return send(res, 503, { error: 'down' })
        if (config!.mode === 'garbage') return send(res, 200, '{"active": ')
        if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return send(res, 400, { error: 'invalid_request' })
        const token = new URLSearchParams(await readText(req)).get('token') ?? ''
        return send(res, 200, Object.hasOwn(config!.tokens, token) ? config!.tokens[token] : { active: false })
      }
      if (rest === '/_control/introspection' && req.method === 'PUT') {
        t.introspection = (await readJson(req)) as Introspection
        return send(res, 200, { ok: true })
      }
      if (rest === '/_control/keys' && req.method === 'PUT') {
        t.keys = ((await readJson(req)) as { keys: unknown[] }).keys
        return send(res, 200, { ok: true })
      }
      if (rest === '/_control/mode' && req.method === 'PUT') {
        t.mode = (await readJson(req)) as Mode
        return send(res, 200, { ok: true })
      }
      if (rest === '/_control/discovery' && req.method === 'PUT') {
        t.discovery = await readJson(req)
        return send(res, 200, { ok: true })
      }
      if (rest === '/_control/stats' && req.method === 'GET') {
        // `introspections` only for a tenant set up for introspection: the JWKS tests compare the whole object.
        return send(res, 200, { jwksFetches: t.jwksFetches, discoveryFetches: t.discoveryFetches, ...(t.introspection && { introspections: t.introspections }) })
      }
      return send(res, 404, { error: 'unknown endpoint' })
    } catch (err) {
      return send(res, 400, { error: String(err) })
    }
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: base,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
