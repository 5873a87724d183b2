import { describe, expect, it } from 'vitest'
import { testGateway } from '../support/gateway'
import { answers, controlClock, setMode, spawn, stats, tally, who } from './fleet'
import { seededRuntime } from '../support/runtime'

describe('canary split', () => {
  it('sends the configured share to the canary within tolerance over 1,000 requests', async () => {
    const [v1, v2] = await spawn(2)
    const gw = testGateway({
      upstreams: { users: { url: v1!.url }, 'users-v2': { url: v2!.url } },
      routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'users', split: [{ upstream: 'users-v2', weight: 10 }] } }],
    }, {}, { runtime: seededRuntime() }) // seeded draws: the same 1,000 every run
    const seen = await answers(gw, 1000)
    const counts = tally(seen)
    expect(counts[v1!.id]! + counts[v2!.id]!).toBe(1000)
    // Expected 100; about 5 standard deviations is +-47.
    expect(counts[v2!.id]).toBeGreaterThan(55)
    expect(counts[v2!.id]).toBeLessThan(145)
    expect(gw.logs.filter((l) => l.canary === 'users-v2').length).toBe(counts[v2!.id])
  })

  it('pinned by consumer key: one client always sees one version, and the share holds over many clients', async () => {
    const [v1, v2] = await spawn(2)
    const gw = testGateway({
      upstreams: { users: { url: v1!.url }, 'users-v2': { url: v2!.url } },
      routes: [
        { id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'users', split: [{ upstream: 'users-v2', weight: 30 }], pinBy: 'header:x-user' } },
      ],
    })
    const sides: string[] = []
    for (let u = 0; u < 300; u++) {
      const seen = new Set<string>()
      for (let i = 0; i < 3; i++) seen.add(await who(await gw.fetch('/x', { headers: { 'x-user': `user-${u}` } })))
      expect(seen.size).toBe(1)
      sides.push([...seen][0]!)
    }
    const onV2 = sides.filter((s) => s === v2!.id).length
    expect(onV2).toBeGreaterThan(50) // expected 90 of 300
    expect(onV2).toBeLessThan(130)
  })
})

describe('mirroring', () => {
  it('a mirrored upstream that hangs, resets or fails changes nothing for the client', async () => {
    const [main, shadow] = await spawn(2)
    const gw = testGateway({
      upstreams: { main: { url: main!.url }, shadow: { url: shadow!.url, timeouts: { headers: 200 } } },
      routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'main', mirror: { upstream: 'shadow' } } }],
    })
    for (const mode of ['hang', 'reset', 'fail', 'down'] as const) {
      await setMode(shadow!, mode)
      const res = await gw.fetch('/x', { method: 'POST', body: 'data', headers: { 'content-length': '4' } })
      expect(res.status).toBe(200)
      const body = (await res.json()) as { instance: string; body: string }
      expect(body).toMatchObject({ instance: main!.id, body: 'data' })
    }
    await setMode(shadow!, 'up')
    await gw.fetch('/y?q=1', { method: 'PUT', body: 'copy', headers: { 'content-length': '4' } })
    const shadowSeen = (await stats(shadow!)).requests
    expect(shadowSeen.at(-1)).toEqual({ method: 'PUT', path: '/y', body: 'copy' }) // the copy arrived, body included
    expect(gw.logs.at(-1)!.mirror).toBe('shadow')
  })

  it('mirrors the configured percent, and never a body it cannot copy', async () => {
    const clock = controlClock()
    const [main, shadow] = await spawn(2)
    const gw = testGateway({
      upstreams: { main: { url: main!.url }, shadow: { url: shadow!.url } },
      routes: [{ id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'main', mirror: { upstream: 'shadow', percent: 25, bodyLimit: 4 } } }],
    }, {}, { runtime: clock })
    const draws = [0.1, 0.3, 0.2, 0.9]
    let i = 0
    clock.setRandom(() => draws[i++ % draws.length]!)
    for (let n = 0; n < 4; n++) await gw.fetch('/x')
    expect((await stats(shadow!)).count).toBe(2) // draws below 0.25 only
    i = 0
    const res = await gw.fetch('/x', { method: 'POST', body: 'too big', headers: { 'content-length': '7' } })
    expect(((await res.json()) as { body: string }).body).toBe('too big')
    expect((await stats(shadow!)).count).toBe(2)
  })
})
