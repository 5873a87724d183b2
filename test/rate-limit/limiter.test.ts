/**
 * The RateLimiter object on its own (real SQLite-backed objects in the pool): the sliding-window
 * log and calendar quotas under an injected clock, all-or-nothing consumption, exact refunds,
 * persistence across a restart, alarm cleanup, and bad input.
 */
import { runDurableObjectAlarm } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { LimitCheck } from '../../src/rate-limit/limiter-rpc'
import { inObject, inspect, limiterFor, setClock, used } from './helpers'

const T0 = Date.parse('2026-03-10T12:00:00Z')
const win = (id: string, limit: number, windowS: number): LimitCheck => ({ id, kind: 'window', limit, windowMs: windowS * 1000 })
const quota = (id: string, limit: number, period: 'day' | 'month'): LimitCheck => ({ id, kind: 'quota', limit, period })

describe('sliding window log', () => {
  it('admits N in a window, then recovers one unit exactly W after each admission', async () => {
    const key = 'unit:window'
    const stub = limiterFor(key)
    const check = win('w', 3, 10)
    // Admissions at t0, t0+2s, t0+4s.
    for (const [offset, remaining, reset] of [[0, 2, 10_000], [2000, 1, 8000], [4000, 0, 6000]] as const) {
      await setClock(key, T0 + offset)
      const r = await stub.consume([check], `r${offset}`)
      expect(r.allowed).toBe(true)
      expect(r.decisions[0]).toMatchObject({ remaining, resetMs: reset })
    }
    await setClock(key, T0 + 9999)
    const denied = await stub.consume([check], 'd1')
    expect(denied.allowed).toBe(false)
    // The unit used at t0 comes back at t0+10s: 1 ms from now.
    expect(denied.decisions[0]).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 1 })
    await setClock(key, T0 + 10_000)
    expect((await stub.consume([check], 'a4')).allowed).toBe(true)
    // Again full: the next unit frees at t0+2s+10s.
    await setClock(key, T0 + 10_001)
    const again = await stub.consume([check], 'd2')
    expect(again.decisions[0]).toMatchObject({ allowed: false, retryAfterMs: 1999 })
    // No interval of 10 s ever held more than 3 admissions: the denied calls left no rows.
    expect(await used(key, 'w')).toBe(3)
  })

  it('decides all checks together: a denial anywhere consumes nothing', async () => {
    const key = 'unit:all-or-nothing'
    const stub = limiterFor(key)
    await setClock(key, T0)
    const checks = [win('second', 2, 1), win('minute', 5, 60), quota('day', 100, 'day')]
    expect((await stub.consume(checks, 'a')).allowed).toBe(true)
    expect((await stub.consume(checks, 'b')).allowed).toBe(true)
    const third = await stub.consume(checks, 'c')
    expect(third.allowed).toBe(false)
    expect(third.decisions.map((d) => d.allowed)).toEqual([false, true, true])
    expect(await used(key, 'minute')).toBe(2)
    expect(await used(key, 'day')).toBe(2)
  })

  it('refunds exactly the reservation, whatever came after it', async () => {
    const key = 'unit:refund'
    const stub = limiterFor(key)
    await setClock(key, T0)
    const checks = [win('w', 10, 60), quota('q', 10, 'month')]
    await stub.consume(checks, 'keep-1')
    await stub.consume(checks, 'give-back')
    await stub.consume(checks, 'keep-2')
    expect(await stub.refund('give-back')).toBe(2)
    expect(await stub.refund('give-back')).toBe(0)
    expect(await used(key, 'w')).toBe(2)
    expect(await used(key, 'q')).toBe(2)
  })

  it('a refund that overtakes its call: the call, when it comes, is charged nothing', async () => {
    const key = 'unit:refund-first'
    const stub = limiterFor(key)
    await setClock(key, T0)
    const checks = [win('w', 10, 60), quota('q', 10, 'month')]
    expect(await stub.refund('overtaken')).toBe(0)
    const late = await stub.consume(checks, 'overtaken')
    expect(late).toMatchObject({ allowed: false, decisions: [], error: 'the reservation was refunded before it arrived' })
    expect(await used(key, 'w')).toBe(0)
    expect(await used(key, 'q')).toBe(0)
    // Other reservations are charged as usual.
    expect((await stub.consume(checks, 'next')).allowed).toBe(true)
    expect(await used(key, 'w')).toBe(1)
  })
})

describe('sliding window across a restart', () => {
  it('the window log is rebuilt from storage: the next request is denied with the same retry-after', async () => {
    const key = `unit:window-restart:${crypto.randomUUID()}`
    const check = win('w', 3, 10)
    for (const offset of [0, 2000, 4000]) {
      await setClock(key, T0 + offset)
      expect((await limiterFor(key).consume([check], `r${offset}`)).allowed).toBe(true)
    }
    await setClock(key, T0 + 5000)
    const before = await limiterFor(key).consume([check], 'd1')
    expect(before.decisions[0]).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 5000, resetMs: 5000 })
    // Restart this object only (as in the quota test below): the new instance has an empty heap.
    await inObject(key, (_, state) => state.abort('restart for the test')).catch(() => undefined)
    await setClock(key, T0 + 5000)
    const after = await limiterFor(key).consume([check], 'd2')
    expect(after.decisions[0]).toEqual(before.decisions[0])
    // And the units still come back on time: the one used at T0 at T0+10s, the next at T0+12s.
    await setClock(key, T0 + 10_000)
    expect((await limiterFor(key).consume([check], 'r10')).decisions[0]).toMatchObject({ allowed: true, remaining: 0, resetMs: 2000 })
    await setClock(key, T0 + 11_999)
    expect((await limiterFor(key).consume([check], 'd3')).decisions[0]).toMatchObject({ allowed: false, retryAfterMs: 1 })
  })
})

describe('calendar quotas', () => {
  it('count per UTC month and restart at the first millisecond of the next', async () => {
    const key = 'unit:month'
    const stub = limiterFor(key)
    const check = quota('monthly', 2, 'month')
    await setClock(key, '2026-01-31T23:59:59.999Z')
    const first = await stub.consume([check], 'a')
    // January has 31 days; the period ends in 1 ms.
    expect(first.decisions[0]).toMatchObject({ remaining: 1, windowMs: 31 * 86_400_000, resetMs: 1 })
    await stub.consume([check], 'b')
    const denied = await stub.consume([check], 'c')
    expect(denied.decisions[0]).toMatchObject({ allowed: false, retryAfterMs: 1 })
    await setClock(key, '2026-02-01T00:00:00.000Z')
    const feb = await stub.consume([check], 'd')
    expect(feb.allowed).toBe(true)
    // February 2026 has 28 days.
    expect(feb.decisions[0]).toMatchObject({ remaining: 1, windowMs: 28 * 86_400_000, resetMs: 28 * 86_400_000 })
  })

  it('uses UTC, not local time, and leap-year Februaries', async () => {
    const key = 'unit:leap'
    const stub = limiterFor(key)
    await setClock(key, '2028-02-15T10:00:00Z')
    const r = await stub.consume([quota('m', 5, 'month'), quota('d', 5, 'day')], 'a')
    expect(r.decisions[0]!.windowMs).toBe(29 * 86_400_000)
    expect(r.decisions[1]).toMatchObject({ windowMs: 86_400_000, resetMs: 14 * 3_600_000 })
  })

  it('survive a restart of the object: the count is read back from storage', async () => {
    const key = 'unit:restart'
    await setClock(key, T0)
    const check = quota('monthly', 3, 'month')
    await limiterFor(key).consume([check], 'a')
    await limiterFor(key).consume([check], 'b')
    // Restart this object only (abortAllDurableObjects would also restart other test files' objects).
    await inObject(key, (_, state) => state.abort('restart for the test')).catch(() => undefined)
    // A new instance: its heap is empty, so its clock is the real one again until set.
    expect(Math.abs((await inspect(key)).now - Date.now())).toBeLessThan(60_000)
    await setClock(key, T0 + 60_000)
    const after = await limiterFor(key).consume([check], 'c')
    expect(after.decisions[0]).toMatchObject({ allowed: true, remaining: 0 })
    expect((await limiterFor(key).consume([check], 'd')).allowed).toBe(false)
    const rows = await inObject(key, (_, state) =>
      state.storage.sql.exec<{ used: number }>('SELECT used FROM quotas').toArray(),
    )
    expect(rows).toEqual([{ used: 3 }])
  })
})

describe('cleanup', () => {
  it('an alarm deletes the state of a key once everything has expired', async () => {
    const key = 'unit:alarm'
    await setClock(key, T0)
    await limiterFor(key).consume([win('w', 5, 60)], 'a')
    // Early alarm: the hit is still live, so it stays and a new alarm is set.
    expect(await runDurableObjectAlarm(limiterFor(key))).toBe(true)
    expect(await used(key, 'w')).toBe(1)
    await setClock(key, T0 + 60_000)
    expect(await runDurableObjectAlarm(limiterFor(key))).toBe(true)
    const tables = await inObject(key, (_, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('hits', 'quotas', 'holds')").toArray(),
    )
    expect(tables).toEqual([])
    expect((await inspect(key)).counters).toEqual([])
    // And the key works again afterwards.
    expect((await limiterFor(key).consume([win('w', 5, 60)], 'b')).allowed).toBe(true)
  })
})

describe('bad input', () => {
  it('rejects malformed checks instead of counting them', async () => {
    const stub = limiterFor('unit:bad')
    const bad: unknown[] = [
      [],
      [{ id: 'x', kind: 'window', limit: 0, windowMs: 1000 }],
      [{ id: 'x', kind: 'window', limit: 1.5, windowMs: 1000 }],
      [{ id: 'x', kind: 'window', limit: 5, windowMs: -1 }],
      [{ id: 'x', kind: 'quota', limit: 5, period: 'year' }],
      [{ id: '', kind: 'quota', limit: 5, period: 'day' }],
      Array.from({ length: 33 }, (_, i) => ({ id: `x${i}`, kind: 'quota', limit: 5, period: 'day' })),
    ]
    for (const checks of bad) {
      const result = await stub.consume(checks as LimitCheck[], 'r')
      expect(result).toMatchObject({ allowed: false, decisions: [], error: expect.stringMatching(/checks expected|bad (limit|window|check id)/) })
    }
    expect((await stub.consume([win('w', 1, 1)], 'x'.repeat(65))).error).toBe('bad reservation id')
    expect((await stub.inspect()).counters).toEqual([])
  })
})
