// Demo identity provider for `npm run dev`, on 127.0.0.1:9103 (no internet needed). It makes a
// fresh RS256 key at start and serves OIDC discovery and its JWKS, like a real IdP. For the demo
// only, it also mints tokens: GET /token?sub=user-1&scope=profile (see `npm run demo:token`).
import http from 'node:http'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

export const DEMO_AUDIENCE = 'edgeway-demo'

export async function startDemoIssuer({ port = 9103 } = {}) {
  const issuer = `http://127.0.0.1:${port}`
  const kid = `demo-${Date.now().toString(36)}`
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] }
  const send = (res, status, body, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type })
    res.end(typeof body === 'string' ? body : JSON.stringify(body))
  }
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, issuer)
    if (url.pathname === '/.well-known/openid-configuration') {
      return send(res, 200, { issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'] })
    }
    if (url.pathname === '/jwks') return send(res, 200, jwks)
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
  })
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
