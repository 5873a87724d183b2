/**
 * The `apiKey` key part counts by the key the `api-key` policy verified, wherever the policy read it
 * (a custom header, a query parameter), and has no value (-> fallback) where no key was verified, so
 * a client can't pick its own counter by sending a made-up `X-Api-Key`. Real keys (hashes in
 * secrets), real RateLimiter objects.
 */
import { describe, expect, it } from 'vitest'
import { sha256Hex, testGateway } from '../support/gateway'
import { configKeys, consumerId } from '../integration/identity'
import { freshIp, used } from './helpers'

const limit = { type: 'rate-limit', by: ['apiKey'], fallback: ['ip'], limits: [{ name: 'per-key', limit: 2, window: 3600 }] } as const

/** The object name of a verified key: the policy publishes the key's SHA-256, the key part hashes that. */
const objectOf = async (key: string) => `apikey#=${(await sha256Hex(await sha256Hex(key))).slice(0, 32)}`

async function gateway() {
  const [acme, globex] = [consumerId('acme'), consumerId('globex')]
  const keyed = await configKeys({ [acme]: {}, [globex]: {} })
  const gw = testGateway(
    {
      consumers: keyed.consumers,
      routes: [
        { id: 'keyed', match: { path: '/keyed' }, policies: [{ type: 'api-key', header: 'X-Key', query: 'key' }, limit as never], action: { type: 'respond', body: 'ok' } },
        { id: 'open', match: { path: '/open' }, policies: [limit as never], action: { type: 'respond', body: 'ok' } },
      ],
    },
    keyed.env,
  )
  return { gw, a: keyed.keys[acme]!, b: keyed.keys[globex]! }
}

describe('rate-limit apiKey part', () => {
  it('counts the verified key from a custom header and from a query parameter as one counter', async () => {
    const { gw, a, b } = await gateway()
    const ip = freshIp()
    expect((await gw.fetch('/keyed', { headers: { 'x-key': a, 'cf-connecting-ip': ip } })).status).toBe(200)
    expect((await gw.fetch(`/keyed?key=${encodeURIComponent(a)}`, { headers: { 'cf-connecting-ip': ip } })).status).toBe(200)
    expect(await used(await objectOf(a), 'route:keyed/per-key')).toBe(2)
    const third = await gw.fetch(`/keyed?key=${encodeURIComponent(a)}`, { headers: { 'cf-connecting-ip': freshIp() } })
    expect(third.status).toBe(429)
    expect(((await third.json()) as { limit: string }).limit).toBe('per-key')
    // Another key has its own counter, and no request fell back to the IP.
    expect((await gw.fetch('/keyed', { headers: { 'x-key': b, 'cf-connecting-ip': ip } })).status).toBe(200)
    expect(await used(`ip=${ip}`, 'route:keyed/per-key')).toBe(0)
    expect(gw.logs.every((line) => (line.rateLimit as { fallback?: boolean } | undefined)?.fallback !== true)).toBe(true)
  })

  it('without a verified key the fallback counts: a made-up X-Api-Key per request does not dodge the limit', async () => {
    const { gw } = await gateway()
    const ip = freshIp()
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      statuses.push((await gw.fetch('/open', { headers: { 'x-api-key': `made-up-${i}-${crypto.randomUUID()}`, 'cf-connecting-ip': ip } })).status)
    }
    expect(statuses).toEqual([200, 200, 429])
    expect(await used(`ip=${ip}`, 'route:open/per-key')).toBe(2)
  })
})
