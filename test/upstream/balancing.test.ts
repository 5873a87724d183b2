import { describe, expect, it } from 'vitest'
import { sha256Hex, testGateway } from '../support/gateway'
import { answers, controlClock, poolGateway, setMode, spawn, stats, tally, who } from './fleet'
import { pollUntil, seededRuntime } from '../support/runtime'


describe('load balancing over a pool', () => {
  it('round robin honours weights exactly over 1,000 requests, interleaved', async () => {
    const [a, b, c] = await spawn(3)
    const gw = poolGateway({ targets: [{ url: a!.url, weight: 5 }, { url: b!.url, weight: 3 }, { url: c!.url, weight: 2 }] })
    const seen = await answers(gw, 1000)
    expect(tally(seen)).toEqual({ [a!.id]: 500, [b!.id]: 300, [c!.id]: 200 })
    // Smooth: the heaviest target never gets more than 2 in a row with 5:3:2.
    expect(seen.slice(0, 10).join(',')).not.toContain(`${a!.id},${a!.id},${a!.id}`)
  })

  it('weighted random matches weights within tolerance over 1,000 requests', async () => {
    const [a, b] = await spawn(2)
    const gw = poolGateway({ balance: 'weighted-random', targets: [{ url: a!.url, weight: 3 }, { url: b!.url, weight: 1 }] }, seededRuntime()) // seeded draws: the same 1,000 every run
    const counts = tally(await answers(gw, 1000))
    expect(counts[a!.id]! + counts[b!.id]!).toBe(1000)
    // Expected 750; 5 standard deviations is about +-70.
    expect(counts[a!.id]).toBeGreaterThan(680)
    expect(counts[a!.id]).toBeLessThan(820)
  })

  it('a target with weight 0 is drained', async () => {
    const [a, b] = await spawn(2)
    const gw = poolGateway({ targets: [{ url: a!.url }, { url: b!.url, weight: 0 }] })
    expect(new Set(await answers(gw, 20))).toEqual(new Set([a!.id]))
  })

  it('consistent hashing keeps a key on one target, spreads keys, and moves only the keys of a target that is out', async () => {
    const fleet = await spawn(3)
    const gw = poolGateway(
      {
        balance: 'hash',
        hashOn: 'header:x-tenant',
        passive: { failures: 1, ejectMs: 60_000 },
        retries: { attempts: 2, backoff: { base: 1, max: 1 } },
        targets: fleet.map((i) => ({ url: i.url })),
      },
    )
    const placement = new Map<string, string>()
    for (let k = 0; k < 30; k++) {
      const seen = await answers(gw, 3, () => ({ headers: { 'x-tenant': `tenant-${k}` } }))
      expect(new Set(seen).size).toBe(1) // one key, one target
      placement.set(`tenant-${k}`, seen[0]!)
    }
    expect(new Set(placement.values()).size).toBe(3) // keys spread over every target
    const down = fleet[0]!
    await setMode(down, 'down')
    for (const [key, before] of placement) {
      const now = await who(await gw.fetch('/x', { headers: { 'x-tenant': key } }))
      if (before === down.id) expect(now).not.toBe(down.id)
      else expect(now).toBe(before) // keys of healthy targets stay put
    }
    await setMode(down, 'up')
  })

  it('hashing on the client IP, and round robin when the key is missing', async () => {
    const fleet = await spawn(2)
    const gw = poolGateway({ balance: 'hash', hashOn: 'ip', targets: fleet.map((i) => ({ url: i.url })) })
    const seen = await answers(gw, 5, () => ({ headers: { 'cf-connecting-ip': '203.0.113.7' } }))
    expect(new Set(seen).size).toBe(1)
    expect(new Set(await answers(gw, 4)).size).toBe(2)
  })

  it('aggregation calls to a hash pool follow the consumer, as a proxy route does', async () => {
    const fleet = await spawn(3)
    const names = Array.from({ length: 12 }, (_, k) => `c${k}`)
    const consumers = Object.fromEntries(names.map((name) => [name, { apiKeySecrets: [`KEY_${name}`] }]))
    const secrets = Object.fromEntries(await Promise.all(names.map(async (name) => [`KEY_${name}`, await sha256Hex(`key-${name}`)])))
    const gw = testGateway({
      upstreams: { pool: { balance: 'hash', hashOn: 'consumer', targets: fleet.map((i) => ({ url: i.url })) } },
      consumers,
      routes: [{
        id: 'agg',
        match: { path: '/agg' },
        policies: [{ type: 'api-key' }],
        action: { type: 'aggregate', calls: [{ name: 'a', upstream: 'pool', path: '/a', group: 'a' }, { name: 'b', upstream: 'pool', path: '/b', group: 'b' }] },
      }],
    }, secrets)
    const placement = new Map<string, string>()
    for (const name of names) {
      const seen = new Set<string>()
      for (let i = 0; i < 3; i++) {
        const res = await gw.fetch('/agg', { headers: { 'x-api-key': `key-${name}` } })
        expect(res.status).toBe(200)
        const body = (await res.json()) as { a: { instance: string }; b: { instance: string } }
        seen.add(body.a.instance).add(body.b.instance)
      }
      expect([...seen]).toHaveLength(1) // both calls, every time, on the consumer's target
      placement.set(name, [...seen][0]!)
    }
    expect(new Set(placement.values()).size).toBeGreaterThan(1) // consumers spread over the pool
  })

  it('least outstanding requests sends new requests away from a target still busy', async () => {
    const [slow, fast] = await spawn(2)
    const gw = poolGateway({ balance: 'least-requests', targets: [{ url: slow!.url }, { url: fast!.url }], timeouts: { headers: 3_000 } })
    await setMode(slow!, 'hang')
    // The first request goes to `slow` (round robin tie-break) and hangs there, outstanding.
    const controller = new AbortController()
    const pending = gw.fetch('/x', { signal: controller.signal }).catch(() => undefined)
    // Wait (bounded) until the hanging request has reached `slow`.
    await pollUntil(() => stats(slow!), (s) => s.count > 0)
    expect((await stats(slow!)).count).toBe(1)
    expect(new Set(await answers(gw, 10))).toEqual(new Set([fast!.id]))
    controller.abort()
    await setMode(slow!, 'up')
    await pending
  })
})

describe('sticky sessions', () => {
  it('sets a cookie naming the target, honours it, and replaces it when its target is down', async () => {
    const [a, b] = await spawn(2)
    const gw = poolGateway(
      {
        sticky: { cookie: 'lb', duration: 600 },
        passive: { failures: 1 },
        retries: { attempts: 1, backoff: { base: 1, max: 1 } },
        targets: [{ url: a!.url, id: 'alpha' }, { url: b!.url, id: 'beta' }],
      },
    )
    const first = await gw.fetch('/x')
    const cookie = first.headers.get('set-cookie')!
    expect(cookie).toMatch(/^lb=(alpha|beta); Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/)
    const pinned = await who(first)
    const value = cookie.split(';')[0]!
    const again = await answers(gw, 10, () => ({ headers: { cookie: `other=1; ${value}` } }))
    expect(new Set(again)).toEqual(new Set([pinned])) // round robin would have alternated
    const res = await gw.fetch('/x', { headers: { cookie: value } })
    expect(res.headers.get('set-cookie')).toBeNull() // already pinned: no new cookie

    const pinnedInstance = pinned === a!.id ? a! : b!
    await setMode(pinnedInstance, 'down')
    const moved = await gw.fetch('/x', { headers: { cookie: value } })
    expect(moved.status).toBe(200)
    const other = await who(moved)
    expect(other).not.toBe(pinned)
    expect(moved.headers.get('set-cookie')).toMatch(new RegExp(`^lb=${other === a!.id ? 'alpha' : 'beta'};`))
    await setMode(pinnedInstance, 'up')
  })

  it('ignores a cookie naming an unknown or malformed target', async () => {
    const [a] = await spawn(1)
    const gw = poolGateway({ sticky: {}, targets: [{ url: a!.url }] })
    for (const cookie of ['edgeway-pool=nope', 'edgeway-pool=%E0%A4%A', 'edgeway-pool=']) {
      const res = await gw.fetch('/x', { headers: { cookie } })
      expect(res.status).toBe(200)
      expect(res.headers.get('set-cookie')).toMatch(/^edgeway-pool=0;/)
    }
  })
})

describe('sticky sessions and ejection', () => {
  it('a sticky target already ejected is skipped without being tried, and the cookie is rewritten', async () => {
    const clock = controlClock() // no time passes: the ejection's cool-off does not run out mid-test
    const [a, b] = await spawn(2)
    const gw = poolGateway(
      {
        sticky: { cookie: 'lb', duration: 600 },
        passive: { failures: 1, ejectMs: 60_000 },
        targets: [{ url: a!.url, id: 'alpha' }, { url: b!.url, id: 'beta' }],
      },
      clock,
    )
    await setMode(a!, 'fail', { status: 502, times: 1 })
    const failed = await gw.fetch('/x', { headers: { cookie: 'lb=alpha' } })
    expect(failed.status).toBe(502) // alpha's one failure ejects it
    await failed.body?.cancel()
    const seenByAlpha = (await stats(a!)).count // alpha is up again now: any try on it would be answered

    for (let i = 0; i < 3; i++) {
      const res = await gw.fetch('/x', { headers: { cookie: 'lb=alpha' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('set-cookie')).toMatch(/^lb=beta; Max-Age=600;/)
      expect(await who(res)).toBe(b!.id)
    }
    expect((await stats(a!)).count).toBe(seenByAlpha)
  })
})
