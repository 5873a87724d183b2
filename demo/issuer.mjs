// Demo identity provider for `npm run dev`, on 127.0.0.1:9103 (no internet needed). It makes a
// fresh RS256 key at start and serves OIDC discovery and its JWKS, like a real IdP. For the demo
// only, it also mints tokens: GET /token?sub=user-1&scope=profile (see `npm run demo:token`).
// The portal's "Sign in" uses its authorization code flow (GET /authorize, POST /token): the test
// kit's (src/testing/node/issuer-server.ts), which signs the demo developer in at once, no login page.
import { build } from 'esbuild'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

export const DEMO_AUDIENCE = 'edgeway-demo'
/** Who "Sign in" signs in: the portal shows the e-mail, the subject names the developer's consumer. */
export const DEMO_DEVELOPER = { sub: 'demo-developer', email: 'developer@example.com' }

/** The kit's code flow (TypeScript), bundled for Node by esbuild: Node 20 doesn't load .ts itself. */
async function importKitCodeFlow() {
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-demo-issuer-'))
  const outfile = join(dir, 'issuer-server.mjs')
  try {
    const entry = fileURLToPath(new URL('../src/testing/node/issuer-server.ts', import.meta.url))
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'error' })
    const { authorize, redeem } = await import(pathToFileURL(outfile).href)
    return { authorize, redeem }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const readText = (req) =>
  new Promise((resolve, reject) => {
    let text = ''
    req.on('data', (chunk) => {
      text += chunk
      if (text.length > 100_000) req.destroy()
    })
    req.on('end', () => resolve(text))
    req.on('error', reject)
  })

export async function startDemoIssuer({ port = 9103 } = {}) {
  const issuer = `http://127.0.0.1:${port}`
  const kid = `demo-${Date.now().toString(36)}`
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const { authorize, redeem } = await importKitCodeFlow()
  // The code flow's state: its ID tokens are signed with the demo key, the one the JWKS publishes.
  const codeFlow = { user: DEMO_DEVELOPER, signer: { key: privateKey, kid }, keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] }
  const send = (res, status, body, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }
  const server = http.createServer((req, res) => answer(req, res).catch((err) => send(res, 400, { error: String(err) })))
  async function answer(req, res) {
    const url = new URL(req.url, issuer)
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        id_token_signing_alg_values_supported: ['RS256'],
      })
    }
    if (url.pathname === '/jwks') return send(res, 200, { keys: codeFlow.keys })
    if (url.pathname === '/authorize' && req.method === 'GET') return authorize(codeFlow, url, res)
    if (url.pathname === '/token' && req.method === 'POST') return send(res, ...(await redeem(codeFlow, issuer, new URLSearchParams(await readText(req)))))
    if (url.pathname === '/token') {
      const token = await new SignJWT({ scope: url.searchParams.get('scope') ?? 'profile' })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(DEMO_AUDIENCE)
        .setSubject(url.searchParams.get('sub') ?? 'user-1')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey)
      return send(res, 200, token, 'text/plain')
    }
    send(res, 404, { error: 'not found' })
  }
  await new Promise((resolve, reject) => {
    server.on('error', reject)
    server.listen(port, '127.0.0.1', resolve)
  })
  return () => server.close()
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await startDemoIssuer()
  console.log('demo issuer on http://127.0.0.1:9103')
}
