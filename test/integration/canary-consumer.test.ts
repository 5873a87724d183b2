/**
 * Canary splits pinned by consumer (issue 8: "optionally pinned per consumer so one client sees one
 * version"), with the consumer established by the real `api-key` policy, and the same pinning for a
 * pool's consistent hashing (`hashOn: "consumer"`). Real fleet origins on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'
import { spawn, who } from '../upstream/fleet'
import { configKeys, consumerId } from './identity'

const CONSUMERS = 60

describe('pinned by consumer, with real API keys', () => {
  it('each consumer always lands on one version of a canary split, and both versions get consumers', async () => {
    const [v1, v2] = await spawn(2)
    const ids = Array.from({ length: CONSUMERS }, (_, i) => consumerId(`c${i}`))
    const keyed = await configKeys(Object.fromEntries(ids.map((id) => [id, {}])))
    const gw = testGateway(
      {
        consumers: keyed.consumers,
        upstreams: { users: { url: v1!.url }, 'users-v2': { url: v2!.url } },
        routes: [
          {
            id: 'all',
            match: { path: '/*' },
            policies: [{ type: 'api-key' }],
            action: { type: 'proxy', upstream: 'users', split: [{ upstream: 'users-v2', weight: 50 }], pinBy: 'consumer' },
          },
        ],
      },
      keyed.env,
    )
    const sideOf = new Map<string, string>()
    for (const id of ids) {
      const seen = new Set<string>()
      // Different client addresses each time: the pin follows the consumer, not the connection.
      for (let i = 0; i < 3; i++) {
        seen.add(await who(await gw.fetch('/x', { headers: { 'x-api-key': keyed.keys[id]!, 'cf-connecting-ip': `198.51.100.${i + 1}` } })))
      }
      expect(seen.size).toBe(1)
      sideOf.set(id, [...seen][0]!)
    }
    const onV2 = [...sideOf.values()].filter((side) => side === v2!.id).length
    // Expected 30 of 60; both versions must see consumers (a pin that ignored the split would not).
    expect(onV2).toBeGreaterThan(10)
    expect(onV2).toBeLessThan(50)
  })

  it('a pool hashing on the consumer keeps each consumer on one target', async () => {
    const targets = await spawn(3)
    const ids = Array.from({ length: 20 }, (_, i) => consumerId(`h${i}`))
    const keyed = await configKeys(Object.fromEntries(ids.map((id) => [id, {}])))
    const gw = testGateway(
      {
        consumers: keyed.consumers,
        upstreams: { pool: { targets: targets.map((t) => ({ url: t.url })), balance: 'hash', hashOn: 'consumer' } },
        routes: [{ id: 'all', match: { path: '/*' }, policies: [{ type: 'api-key' }], action: { type: 'proxy', upstream: 'pool' } }],
      },
      keyed.env,
    )
    const used = new Set<string>()
    for (const id of ids) {
      const seen = new Set<string>()
      for (let i = 0; i < 3; i++) seen.add(await who(await gw.fetch('/x', { headers: { 'x-api-key': keyed.keys[id]! } })))
      expect(seen.size).toBe(1)
      used.add([...seen][0]!)
    }
    expect(used.size).toBeGreaterThan(1)
  })
})
