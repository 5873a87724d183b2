// What every scenario runs against: the back-end process (origins, JWKS, cache service) and the
// credentials for the auth scenarios, made fresh each run.
import { generateKeyPair, exportJWK, SignJWT } from 'jose'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { firstMessage, startProcess } from './procs.mjs'
import { ROOT } from './workerd.mjs'

/** Starts bench/servers.mjs (its log in `dir`) and returns { ctx, servers }. */
export async function startScenarioContext(dir) {
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' }
  const servers = startProcess(process.execPath, [join(ROOT, 'bench/servers.mjs'), JSON.stringify({ jwks: { keys: [jwk] } })], { ipc: true, logFile: join(dir, 'servers.log') })
  const { ports } = await firstMessage(servers)
  const u = (p) => `http://127.0.0.1:${p}`
  const jwks = { url: `${u(ports.jwks)}/.well-known/jwks.json`, issuer: 'https://issuer.bench.local', audience: 'edgeway-bench' }
  const token = await new SignJWT({ scope: 'read' })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench-1' })
    .setIssuer(jwks.issuer).setAudience(jwks.audience).setSubject('bench-user')
    .setIssuedAt().setExpirationTime('2h').sign(privateKey)
  const apiKey = `ek_${randomBytes(24).toString('base64url')}`
  const ctx = {
    ports,
    origins: { main: u(ports.main), slow20: u(ports.slow20), slow40: u(ports.slow40), slow60: u(ports.slow60), tail10: u(ports.tail10) },
    jwks, token, apiKey, apiKeyHash: createHash('sha256').update(apiKey).digest('hex'),
  }
  return { ctx, servers }
}
