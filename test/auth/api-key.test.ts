/**
 * API keys: config keys (hashes in Worker secrets), KV keys managed end to end through the admin
 * API (create, list, rotate with overlap, expire, revoke), header and query parameter, hiding the key.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { GatewayOptions } from '../../src/gateway/create-gateway'
import { ORIGIN, sha256Hex, testGateway, type Echo } from '../support/gateway'
import { manualRuntime } from '../support/runtime'

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' }

function gateway(policy: Record<string, unknown>, extraEnv: Record<string, unknown> = {}, consumers: GatewayConfigInput['consumers'] = {}, options: GatewayOptions = {}) {
  return testGateway(
    {
      upstreams: { origin: { url: ORIGIN } },
      plans: { gold: {}, free: {} },
      consumers: { acme: { plan: 'gold', metadata: { region: 'eu' } }, globex: { plan: 'free' }, ...consumers },
      routes: [
        { id: 'who', match: { path: '/who' }, policies: [{ type: 'api-key', ...policy } as never], action: { type: 'respond', body: { consumer: '{consumer.id}', plan: '{consumer.plan}', via: '{consumer.via}', region: '{consumer.metadata.region}' } } },
        { id: 'echo', match: { path: '/echo/*' }, policies: [{ type: 'api-key', ...policy } as never], action: { type: 'proxy', upstream: 'origin' } },
      ],
    },
    extraEnv,
    options,
  )
}

/** The pool's `API_KEYS` namespace, with the keys of every `get` it serves listed in `reads`. */
function countedKv(): { kv: KVNamespace; reads: string[] } {
  const reads: string[] = []
  const kv = new Proxy(env.API_KEYS, {
    get(target, name) {
      const value = Reflect.get(target, name) as unknown
      if (typeof value !== 'function') return value
      if (name === 'get') return (key: string, ...rest: unknown[]) => (reads.push(key), (value as (...a: unknown[]) => unknown).call(target, key, ...rest))
      return (value as (...a: unknown[]) => unknown).bind(target)
    },
  })
  return { kv, reads }
}

describe('api-key: keys in config secrets', () => {
  it('accepts a key whose SHA-256 is in a secret, and publishes its consumer', async () => {
    const key = 'acme-secret-key-0123456789'
    const gw = gateway({}, { ACME_KEY_HASH: await sha256Hex(key) }, { acme: { plan: 'gold', metadata: { region: 'eu' }, apiKeySecrets: ['ACME_KEY_HASH'] } })
    const res = await gw.fetch('/who', { headers: { 'x-api-key': key } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ consumer: 'acme', plan: 'gold', via: 'api-key', region: 'eu' })
    expect(gw.logs[0]).toMatchObject({ consumer: 'acme', auth: { via: 'api-key', outcome: 'ok' } })
  })

  it('missing, wrong or oversized key: 401 problem+json', async () => {
    const gw = gateway({}, { ACME_KEY_HASH: await sha256Hex('right') }, { acme: { apiKeySecrets: ['ACME_KEY_HASH'] } })
    const cases: [RequestInit, string, string | undefined][] = [
      [{}, 'An API key is required.', undefined],
      [{ headers: { 'x-api-key': 'wrong' } }, 'The API key is invalid.', 'ERR_API_KEY_UNKNOWN'],
      [{ headers: { 'x-api-key': 'x'.repeat(5000) } }, 'The API key is invalid.', 'ERR_API_KEY_TOO_LARGE'],
    ]
    for (const [init, detail, code] of cases) {
      const res = await gw.fetch('/who', init)
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(res.headers.get('www-authenticate')).toBe('ApiKey header="X-API-Key"')
      expect(await res.json()).toMatchObject({ code: 'ERR_UNAUTHORIZED', detail })
      expect((gw.logs.at(-1)!.auth as { code?: string }).code).toBe(code)
    }
  })

  it('takes the key from a query parameter and removes it (and only it) from the upstream query', async () => {
    const gw = gateway({ query: 'api_key' }, { H: await sha256Hex('k-1') }, { acme: { apiKeySecrets: ['H'] } })
    const res = await gw.fetch('/echo/x?a=1&api_key=k-1&b=%20two+x&api_key=k-1')
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.url).toBe('/echo/x?a=1&b=%20two+x')
  })

  it('an empty key header counts as absent: the query parameter is still tried', async () => {
    const gw = gateway({ query: 'api_key' }, { H: await sha256Hex('k-3') }, { acme: { apiKeySecrets: ['H'] } })
    const res = await gw.fetch('/who?api_key=k-3', { headers: { 'x-api-key': '' } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { consumer: string }).consumer).toBe('acme')
    // Both empty: a missing key (plain 401), not an invalid one.
    const none = await gw.fetch('/who?api_key=', { headers: { 'x-api-key': '' } })
    expect(none.status).toBe(401)
    expect(((await none.json()) as { detail: string }).detail).toBe('An API key is required.')
  })

  it('does not forward the key header unless hideCredentials is false', async () => {
    const hashes = { H: await sha256Hex('k-2') }
    const hidden = gateway({}, hashes, { acme: { apiKeySecrets: ['H'] } })
    expect(((await (await hidden.fetch('/echo/x', { headers: { 'x-api-key': 'k-2' } })).json()) as Echo).headers['x-api-key']).toBeUndefined()
    const shown = gateway({ hideCredentials: false }, hashes, { acme: { apiKeySecrets: ['H'] } })
    expect(((await (await shown.fetch('/echo/x', { headers: { 'x-api-key': 'k-2' } })).json()) as Echo).headers['x-api-key']).toBe('k-2')
  })
})

describe('api-key: KV keys through the admin API', () => {
  const admin = (gw: ReturnType<typeof gateway>, path: string, method = 'GET', body?: unknown) =>
    gw.fetch(`/_edgeway${path}`, { method, headers: ADMIN, ...(body !== undefined && { body: JSON.stringify(body) }) })

  it('create (shown once), use, list (no keys or hashes), rotate with overlap, expire, revoke', async () => {
    const gw = gateway({ kv: 'API_KEYS' })
    const created = await admin(gw, '/api-keys', 'POST', { consumer: 'acme', name: 'ci', metadata: { region: 'us' } })
    expect(created.status).toBe(201)
    const first = (await created.json()) as { id: string; key: string; prefix: string; status: string }
    expect(first.key).toMatch(/^ewk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    expect(first.key.startsWith(first.prefix)).toBe(true)
    expect(first.status).toBe('active')

    const use = (key: string) => gw.fetch('/who', { headers: { 'x-api-key': key } })
    const ok = await use(first.key)
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ consumer: 'acme', plan: 'gold', via: 'api-key', region: 'us' })
    expect(gw.logs.at(-1)!.auth).toMatchObject({ outcome: 'ok', keyId: first.id })

    const listed = (await (await admin(gw, '/api-keys?consumer=acme')).json()) as { keys: Record<string, unknown>[] }
    const entry = listed.keys.find((k) => k.id === first.id)!
    expect(entry).toMatchObject({ prefix: first.prefix, consumer: 'acme', name: 'ci', status: 'active' })
    const listedText = JSON.stringify(listed)
    expect(listedText).not.toContain(first.key)
    expect(listedText).not.toContain(await sha256Hex(first.key))
    expect(listedText).not.toContain('hash')

    // Rotate: both keys work during the overlap; the old one then expires.
    const beforeRotate = Date.now()
    const rotated = (await (await admin(gw, `/api-keys/${first.id}/rotate`, 'POST', { overlapSeconds: 3600 })).json()) as {
      id: string
      key: string
      rotatedFrom: string
      previous: { expiresAt: string; rotatedTo: string }
    }
    expect(rotated.rotatedFrom).toBe(first.id)
    expect(rotated.previous.rotatedTo).toBe(rotated.id)
    // The overlap ends one hour after the rotation: not before, not after.
    expect(Date.parse(rotated.previous.expiresAt)).toBeGreaterThanOrEqual(beforeRotate + 3600_000)
    expect(Date.parse(rotated.previous.expiresAt)).toBeLessThanOrEqual(Date.now() + 3600_000)
    expect((await use(first.key)).status).toBe(200)
    expect((await use(rotated.key)).status).toBe(200)

    // Expire the old key now (as the overlap ending would): it stops working, the new one doesn't.
    const expired = await admin(gw, `/api-keys/${first.id}/expire`, 'POST', { at: new Date(Date.now() - 1000).toISOString() })
    expect(((await expired.json()) as { status: string }).status).toBe('expired')
    expect((await use(first.key)).status).toBe(401)
    expect(gw.logs.at(-1)!.auth).toMatchObject({ code: 'ERR_API_KEY_EXPIRED' })
    expect((await use(rotated.key)).status).toBe(200)

    // Revoke the new key.
    const revoked = await admin(gw, `/api-keys/${rotated.id}`, 'DELETE')
    expect(((await revoked.json()) as { status: string }).status).toBe('revoked')
    expect((await use(rotated.key)).status).toBe(401)
    expect(gw.logs.at(-1)!.auth).toMatchObject({ code: 'ERR_API_KEY_REVOKED' })
    expect(((await (await admin(gw, `/api-keys/${rotated.id}`)).json()) as { status: string }).status).toBe('revoked')
  })

  it('a key expiring at a future time works until then', async () => {
    const gw = gateway({ kv: 'API_KEYS' })
    const res = await admin(gw, '/api-keys', 'POST', { consumer: 'globex', expiresAt: new Date(Date.now() + 60_000).toISOString() })
    const { key } = (await res.json()) as { key: string }
    expect((await gw.fetch('/who', { headers: { 'x-api-key': key } })).status).toBe(200)
  })

  it('an expired key cannot be rotated (its replacement would be dead); a live one passes its expiry on', async () => {
    const gw = gateway({ kv: 'API_KEYS' })
    const create = async (expiresAt: string) => (await (await admin(gw, '/api-keys', 'POST', { consumer: 'acme', expiresAt })).json()) as { id: string; key: string }
    const dead = await create(new Date(Date.now() + 600_000).toISOString())
    expect((await admin(gw, `/api-keys/${dead.id}/expire`, 'POST', { at: new Date(Date.now() - 1000).toISOString() })).status).toBe(200)
    const res = await admin(gw, `/api-keys/${dead.id}/rotate`, 'POST', {})
    expect(res.status).toBe(400)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(((await res.json()) as { detail: string }).detail).toBe('An expired key cannot be rotated; create a new key.')
    const listed = (await (await admin(gw, '/api-keys?consumer=acme')).json()) as { keys: { rotatedFrom?: string }[] }
    expect(listed.keys.some((k) => k.rotatedFrom === dead.id)).toBe(false)

    const expiresAt = new Date(Date.now() + 600_000).toISOString()
    const live = await create(expiresAt)
    const rotated = (await (await admin(gw, `/api-keys/${live.id}/rotate`, 'POST', {})).json()) as { key: string; expiresAt: string; previous: { expiresAt: string } }
    expect(rotated.expiresAt).toBe(expiresAt)
    expect(rotated.previous.expiresAt).toBe(expiresAt) // the default day of overlap is cut at the key's own expiry
    expect((await gw.fetch('/who', { headers: { 'x-api-key': rotated.key } })).status).toBe(200)
  })

  it('bad admin input: clear 400/401/404 problems', async () => {
    const gw = gateway({ kv: 'API_KEYS' })
    const unknown = await admin(gw, '/api-keys', 'POST', { consumer: 'nobody' })
    expect(unknown.status).toBe(400)
    expect(((await unknown.json()) as { detail: string }).detail).toBe('consumer: unknown consumer "nobody" (known: acme, globex)')
    const badJson = await gw.fetch('/_edgeway/api-keys', { method: 'POST', headers: ADMIN, body: '{oops' })
    expect(badJson.status).toBe(400)
    const badTime = await admin(gw, '/api-keys', 'POST', { consumer: 'acme', expiresAt: 'tomorrow' })
    expect(((await badTime.json()) as { detail: string }).detail).toMatch(/^expiresAt: must be an ISO 8601 time/)
    expect((await admin(gw, '/api-keys/0123456789ab/rotate', 'POST', {})).status).toBe(404)
    expect((await admin(gw, '/api-keys/../../x')).status).toBe(404)
    expect((await gw.fetch('/_edgeway/api-keys', { method: 'POST', body: '{}' })).status).toBe(401)
  })

  it('contradictions and oversized input: 400, 409, 413', async () => {
    const gw = gateway({ kv: 'API_KEYS' })
    // A key created already expired would never work (was: created, status "expired").
    const past = await admin(gw, '/api-keys', 'POST', { consumer: 'acme', expiresAt: new Date(Date.now() - 1000).toISOString() })
    expect(past.status).toBe(400)
    expect(((await past.json()) as { detail: string }).detail).toMatch(/^expiresAt: .* is not in the future\.$/)
    // A revoked key is not given an expiry (was: its record changed).
    const { id } = (await (await admin(gw, '/api-keys', 'POST', { consumer: 'acme' })).json()) as { id: string }
    await (await admin(gw, `/api-keys/${id}`, 'DELETE')).arrayBuffer()
    const expire = await admin(gw, `/api-keys/${id}/expire`, 'POST', { at: new Date(Date.now() + 60_000).toISOString() })
    expect(expire.status).toBe(409)
    expect(await expire.json()).toMatchObject({ code: 'ERR_CONFLICT', detail: `API key "${id}" is revoked; it cannot be given an expiry.` })
    const after = (await (await admin(gw, `/api-keys/${id}`)).json()) as Record<string, unknown>
    expect([after.status, 'expiresAt' in after]).toEqual(['revoked', false])
    // Metadata is at most 4 KiB (every list returns it); a body over 8 KiB is not read at all.
    const big = await admin(gw, '/api-keys', 'POST', { consumer: 'acme', metadata: { note: 'x'.repeat(4100) } })
    expect(big.status).toBe(400)
    expect(((await big.json()) as { detail: string }).detail).toBe('metadata: must be at most 4096 bytes as JSON')
    const huge = await admin(gw, '/api-keys', 'POST', { consumer: 'acme', metadata: { note: 'x'.repeat(5_000_000) } })
    expect(huge.status).toBe(413)
    expect(await huge.json()).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' })
    const fits = await admin(gw, '/api-keys', 'POST', { consumer: 'acme', metadata: { note: 'x'.repeat(4000) } })
    expect(fits.status).toBe(201)
  })

  it('a key whose consumer left the config no longer works', async () => {
    const gw = gateway({ kv: 'API_KEYS' }, {}, { temp: {} })
    const { key } = (await (await admin(gw, '/api-keys', 'POST', { consumer: 'temp' })).json()) as { key: string }
    expect((await gw.fetch('/who', { headers: { 'x-api-key': key } })).status).toBe(200)
    const later = gateway({ kv: 'API_KEYS' })
    expect((await later.fetch('/who', { headers: { 'x-api-key': key } })).status).toBe(401)
  })

  it('a key costs one KV read per minute, not one a request; the admin API\'s changes apply at once', async () => {
    const { kv, reads } = countedKv()
    const clock = manualRuntime()
    const gw = gateway({ kv: 'COUNTED_KV' }, { COUNTED_KV: kv }, {}, { runtime: clock })
    const adminCounted = (path: string, method = 'GET', body?: unknown) =>
      gw.fetch(`/_edgeway${path}`, { method, headers: ADMIN, ...(body !== undefined && { body: JSON.stringify(body) }) })
    const { id, key } = (await (await adminCounted('/api-keys', 'POST', { consumer: 'acme' })).json()) as { id: string; key: string }
    const hashReads = () => reads.filter((name) => name.startsWith('apikey:hash:')).length
    const use = async (k: string) => (await gw.fetch('/who', { headers: { 'x-api-key': k } })).status

    for (let i = 0; i < 5; i++) expect(await use(key)).toBe(200)
    expect(hashReads()).toBe(1)
    await clock.advance(59_000)
    expect(await use(key)).toBe(200)
    expect(hashReads()).toBe(1)
    await clock.advance(1_000)
    expect(await use(key)).toBe(200)
    expect(hashReads()).toBe(2)
    // A wrong key is read once a minute too, however often it is tried.
    for (let i = 0; i < 3; i++) expect(await use('ewk_000000000000_wrong')).toBe(401)
    expect(hashReads()).toBe(3)
    // Revoking through this isolate's admin API is not held back by its cache.
    expect((await adminCounted(`/api-keys/${id}`, 'DELETE')).status).toBe(200)
    expect(await use(key)).toBe(401)
    expect(gw.logs.at(-1)!.auth).toMatchObject({ code: 'ERR_API_KEY_REVOKED' })
  })

  it('a missing KV binding is a 503, not a 500', async () => {
    const gw = gateway({ kv: 'NO_SUCH_KV' })
    const res = await gw.fetch('/who', { headers: { 'x-api-key': 'anything' } })
    expect(res.status).toBe(503)
    expect(((await res.json()) as { code: string }).code).toBe('ERR_AUTH_UNAVAILABLE')
  })
})
