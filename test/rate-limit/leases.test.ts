/**
 * Leases (`mode: "lease"`, the default): several gateway instances, each with its own lease cache,
 * in front of one namespace whose every object call waits a seeded 0-50 ms on the test's clock.
 * Never more than the limit in any window; under excess demand, at least limit - B; an instance
 * dropped mid-lease doesn't break the bound; quotas across a period boundary; the hot path makes
 * almost no object calls; local denials answer with the right Retry-After and ask again within 5 s.
 */
import { describe, expect, it } from 'vitest'
import { Allowance, LOCAL_DENIAL_MS, reportStepMs, type LimiterLink } from '../../src/rate-limit/leases'
import { LEASE_SHARE } from '../../src/rate-limit/lease-ledger'
import type { LeaseAsk, LeaseResult } from '../../src/rate-limit/limiter-rpc'
import { admittedBetween, drive, fleet, jitteredNamespace, manualRuntime, mostInAnyWindow, type Instance } from './fleet'
import type { RateLimiter } from '../../src/rate-limit/rate-limiter'
import { freshIp, inObject, inspect, limiterFor, setClock, used } from './helpers'

const T0 = Date.parse('2026-03-10T12:00:00Z')

/** Each instance sends one request every `everyMs` on the test's clock, until `stop()`. */
function steadyLoad(clock: ReturnType<typeof manualRuntime>, instances: Instance[], ip: string, everyMs: number) {
  const stopped = new Set<number>()
  instances.forEach((instance, i) => {
    const tick = () => {
      if (stopped.has(i)) return
      void instance.send(ip)
      clock.setTimeout(tick, everyMs)
    }
    clock.setTimeout(tick, i)
  })
  return { stop: (i?: number) => (i === undefined ? instances.forEach((_, j) => stopped.add(j)) : stopped.add(i)) }
}

/** Sends one request at a time from `ip`, each answered while the clock moves 1 ms (the object calls wait on it). */
function oneAtATime(instance: Instance, ip: string, clock: ReturnType<typeof manualRuntime>, jittered: Parameters<typeof drive>[1]) {
  return async () => {
    const status = instance.send(ip)
    await drive(clock, jittered, 1)
    return status
  }
}

describe('the window bound across instances, with 0-50 ms jitter on every object call', () => {
  it('a limit of 50 per 10 s: never more than 50 in any 10 s, and at least 50 - B in every window under excess demand', async () => {
    const clock = manualRuntime({ start: T0 })
    const jittered = jitteredNamespace(clock)
    const { instances, answers, pending } = fleet(3, { limits: [{ name: 'w', limit: 50, window: 10 }] }, clock, jittered)
    const load = steadyLoad(clock, instances, freshIp(), 40)
    await drive(clock, jittered, 35_000)
    load.stop()
    await drive(clock, jittered, 200)
    expect(pending()).toBe(0)

    const B = Math.floor(50 * LEASE_SHARE)
    expect(answers.length).toBeGreaterThan(2500)
    expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true)
    expect(mostInAnyWindow(answers, 10_000)).toBeLessThanOrEqual(50)
    for (const start of [T0, T0 + 10_000, T0 + 20_000]) expect(admittedBetween(answers, start, start + 10_000)).toBeGreaterThanOrEqual(50 - B)
    // Every instance got some: units are not stuck in one instance's leases.
    for (const i of [0, 1, 2]) expect(answers.some((a) => a.instance === i && a.status === 200)).toBe(true)
  }, 60_000)

  it('an instance dropped mid-lease, after spending from it: its units stay counted, the bound holds', async () => {
    const clock = manualRuntime({ start: T0 })
    const jittered = jitteredNamespace(clock, { seed: 11 })
    const ip = freshIp()
    const limits = [{ name: 'w', limit: 300, window: 8 }]
    const { instances, answers } = fleet(3, { limits }, clock, jittered)
    // Instance 2 alone first, fast enough to be leased more than one unit at a time, then slowly,
    // so it spends units long after their lease was granted; then it is gone, mid-lease.
    const fast = steadyLoad(clock, [instances[2]!], ip, 2)
    await drive(clock, jittered, 100)
    fast.stop()
    const slow = steadyLoad(clock, [instances[2]!], ip, 150)
    await drive(clock, jittered, 1000)
    slow.stop()
    const leasedAtDrop = (await inspect(`ip=${ip}`)).counters.find((c) => c.id === 'route:limited/w')
    expect(leasedAtDrop).toMatchObject({ kind: 'window' })
    // It holds an unreported lease (units it may have spent), and it never reports again.
    expect(leasedAtDrop!.kind === 'window' && leasedAtDrop!.leased).toBeGreaterThan(1)
    const load = steadyLoad(clock, instances.slice(0, 2), ip, 10)
    await drive(clock, jittered, 20_000)
    load.stop()
    await drive(clock, jittered, 200)
    expect(answers.filter((a) => a.instance === 2 && a.status === 200).length).toBeGreaterThan(1)
    expect(mostInAnyWindow(answers, 8000)).toBeLessThanOrEqual(300)
    expect(admittedBetween(answers, T0 + 8000, T0 + 16_000)).toBeGreaterThanOrEqual(300 - Math.floor(300 * LEASE_SHARE))
  }, 60_000)

  it('a daily quota across midnight (UTC): its limit before, its limit again after', async () => {
    const midnight = Date.parse('2026-03-11T00:00:00Z')
    const clock = manualRuntime({ start: midnight - 5000 })
    const jittered = jitteredNamespace(clock, { seed: 3 })
    const { instances, answers } = fleet(3, { quotas: [{ name: 'daily', limit: 20, period: 'day' }] }, clock, jittered)
    const load = steadyLoad(clock, instances, freshIp(), 50)
    await drive(clock, jittered, 10_000)
    load.stop()
    await drive(clock, jittered, 200)
    expect(admittedBetween(answers, midnight - 5000, midnight)).toBe(20)
    expect(admittedBetween(answers, midnight, midnight + 10_000)).toBe(20)
  })
})

describe('the object counts leased units until it knows when they were spent, plus the window', () => {
  const checks = [{ id: 'w', kind: 'window' as const, limit: 100, windowMs: 8000 }]
  /** What is left, read with an ask for nothing. */
  const remaining = async (key: string, at: number) => {
    await setClock(key, at)
    const read = await limiterFor(key).lease(checks, { id: crypto.randomUUID(), need: 0, want: 0, reports: [] })
    return read.decisions[0]!.remaining
  }

  it('unreported: every unit until lease end + window; reported: each at the latest it can have been spent', async () => {
    const key = `unit:lease:${crypto.randomUUID()}`
    await setClock(key, T0)
    const lease = await limiterFor(key).lease(checks, { id: 'a', need: 1, want: 5, reports: [] })
    // A quarter of the window; the units asked for, within B (10) and half of what is left.
    expect(lease).toMatchObject({ allowed: true, id: 'a', granted: 5, durationMs: 2000 })
    expect((await inspect(key)).counters).toMatchObject([{ id: 'w', count: 5, leased: 5, newestAt: T0 + 2000, expiresAt: T0 + 10_000 }])
    expect(await remaining(key, T0 + 9999)).toBe(95)
    expect(await remaining(key, T0 + 10_000)).toBe(100)

    const key2 = `unit:lease:${crypto.randomUUID()}`
    await setClock(key2, T0)
    await limiterFor(key2).lease(checks, { id: 'b', need: 1, want: 5, reports: [] })
    // At T0+1 s: 2 units spent 500 ms after the ask, 1 reported as spent 5 s after it (later than
    // now: counted from now), the other 2 never spent (final: freed).
    await setClock(key2, T0 + 1000)
    await limiterFor(key2).lease(checks, { id: 'c', need: 0, want: 0, reports: [{ id: 'b', spent: [[500, 2], [5000, 1]], final: true }] })
    expect(await remaining(key2, T0 + 8499)).toBe(97)
    expect(await remaining(key2, T0 + 8500)).toBe(99)
    expect(await remaining(key2, T0 + 8999)).toBe(99)
    expect(await remaining(key2, T0 + 9000)).toBe(100)
  })

  it("settling a report and refunding a lease read the lease's own rows, not every hit the key holds", async () => {
    const key = `unit:lease:${crypto.randomUUID()}`
    await setClock(key, T0)
    const wide = [{ id: 'w', kind: 'window' as const, limit: 1_000_000, windowMs: 60_000 }]
    await limiterFor(key).lease(wide, { id: 'a', need: 1, want: 100, reports: [] })
    await limiterFor(key).lease(wide, { id: 'b', need: 1, want: 100, reports: [] })
    // 3,000 reported spends, one row each (each at its own millisecond), then a report and a
    // refund, each counted by the rows SQLite read for it.
    const spent: [number, number][] = Array.from({ length: 3000 }, (_, i) => [i, 1])
    await limiterFor(key).lease(wide, { id: 'c', need: 0, want: 0, reports: [{ id: 'a', spent: spent.slice(0, 30), final: false }] })
    await inObject(key, (_, state) => {
      for (const [at] of spent) state.storage.sql.exec("INSERT INTO hits (counter, at, expires, reservation, weight) VALUES ('w', ?, ?, '', 1)", T0 + at, T0 + at + 60_000)
    })
    const rowsRead = (work: (instance: RateLimiter) => Promise<unknown>) =>
      inObject(key, async (instance, state) => {
        const sql = state.storage.sql
        const exec = sql.exec.bind(sql)
        const cursors: SqlStorageCursor<Record<string, SqlStorageValue>>[] = []
        sql.exec = ((query: string, ...bindings: unknown[]) => {
          const cursor = exec(query, ...bindings)
          cursors.push(cursor)
          return cursor
        }) as typeof sql.exec
        try {
          await work(instance)
        } finally {
          sql.exec = exec
        }
        return cursors.reduce((sum, cursor) => sum + cursor.rowsRead, 0)
      })
    const settling = await rowsRead((instance) => instance.lease(wide, { id: 'd', need: 0, want: 0, reports: [{ id: 'a', spent: [[40, 2]], final: false }] }))
    const refunding = await rowsRead((instance) => instance.refund('b'))
    // Both read something (the count works), and far fewer than the 3,000 other hits.
    expect(settling).toBeGreaterThan(0)
    expect(settling).toBeLessThan(100)
    expect(refunding).toBeGreaterThan(0)
    expect(refunding).toBeLessThan(100)
  })

  it('a partial report moves spent units out of the lease; the rest stays held until lease end + window', async () => {
    const key = `unit:lease:${crypto.randomUUID()}`
    await setClock(key, T0)
    await limiterFor(key).lease(checks, { id: 'p', need: 1, want: 5, reports: [] })
    await setClock(key, T0 + 100)
    await limiterFor(key).lease(checks, { id: 'q', need: 0, want: 0, reports: [{ id: 'p', spent: [[50, 1]], final: false }] })
    expect(await remaining(key, T0 + 8049)).toBe(95)
    expect(await remaining(key, T0 + 8050)).toBe(96)
    expect(await remaining(key, T0 + 9999)).toBe(96)
    expect(await remaining(key, T0 + 10_000)).toBe(100)
  })
})

describe('quota leases: what an isolate that never reports can lose is capped at 1% of the quota', () => {
  const daily = [{ id: 'q', kind: 'quota' as const, limit: 10_000, period: 'day' as const }]

  it('a lease counts its units at once; a final report gives back the unspent; the units out in leases stay within 1%', async () => {
    const key = `unit:quota-lease:${crypto.randomUUID()}`
    await setClock(key, T0)
    const first = await limiterFor(key).lease(daily, { id: 'a', need: 1, want: 500, reports: [] })
    // 1 for the waiting request, 100 beside it (1% of 10,000).
    expect(first).toMatchObject({ allowed: true, granted: 101, durationMs: 10_000 })
    expect(await used(key, 'q')).toBe(101)
    await setClock(key, T0 + 5000)
    const second = await limiterFor(key).lease(daily, { id: 'b', need: 1, want: 500, reports: [{ id: 'a', spent: [[0, 31]], final: true }] })
    // The 70 never spent came back; 'b' may again have 100 out.
    expect(second).toMatchObject({ granted: 101 })
    expect(await used(key, 'q')).toBe(31 + 101)
    // 'b' is never reported (its isolate is gone): with 101 out, the next asks get only their own unit.
    const third = await limiterFor(key).lease(daily, { id: 'c', need: 1, want: 500, reports: [] })
    expect(third).toMatchObject({ granted: 1, durationMs: 0 })
    expect(await used(key, 'q')).toBe(31 + 101 + 1)
  })

  it('several instances, one dropped holding a lease: a quota of 1,000 admits at most 1,000 and at least 1,000 - 1% - 1', async () => {
    const clock = manualRuntime({ start: T0 })
    const jittered = jitteredNamespace(clock, { seed: 13 })
    const ip = freshIp()
    const { instances, answers } = fleet(3, { quotas: [{ name: 'daily', limit: 1000, period: 'day' }] }, clock, jittered)
    const early = steadyLoad(clock, [instances[2]!], ip, 2)
    await drive(clock, jittered, 100)
    early.stop()
    await drive(clock, jittered, 60)
    const load = steadyLoad(clock, instances.slice(0, 2), ip, 2)
    await drive(clock, jittered, 3000)
    load.stop()
    await drive(clock, jittered, 200)
    const admitted = answers.filter((a) => a.status === 200).length
    expect(answers.filter((a) => a.instance === 2 && a.status === 200).length).toBeGreaterThan(1)
    expect(admitted).toBeLessThanOrEqual(1000)
    expect(admitted).toBeGreaterThanOrEqual(1000 - 10 - 1)
    expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(0)
  }, 60_000)
})

describe('the hot path', () => {
  // A 1 s window has leases of 250 ms: asks come as leases run out, not on every request of an
  // older lease's second half (which asked on every other request: 250 calls per 1,000).
  it.each([
    { what: 'a large limit a minute', window: 60, everyMs: 2, maxJitterMs: 50, atLeast: 2000 },
    { what: 'a large limit a second (leases of 250 ms)', window: 1, everyMs: 1, maxJitterMs: 5, atLeast: 4000 },
  ])('a key well under $what: at most 20 object calls per 1,000 admitted requests', async ({ window, everyMs, maxJitterMs, atLeast }) => {
    const clock = manualRuntime({ start: T0 })
    const jittered = jitteredNamespace(clock, { seed: 5, maxMs: maxJitterMs })
    const { instances, answers } = fleet(2, { limits: [{ name: 'big', limit: 100_000, window }] }, clock, jittered)
    const load = steadyLoad(clock, instances, freshIp(), everyMs)
    await drive(clock, jittered, 3000, everyMs)
    load.stop()
    await drive(clock, jittered, 200)
    const admitted = answers.filter((a) => a.status === 200).length
    expect(admitted).toBe(answers.length)
    expect(admitted).toBeGreaterThan(atLeast)
    expect((jittered.calls() * 1000) / admitted).toBeLessThanOrEqual(20)
  })

  it('denies locally with the right Retry-After, and asks the object again within 5 s', async () => {
    const clock = manualRuntime({ start: T0 })
    const jittered = jitteredNamespace(clock, { seed: 9, maxMs: 0 })
    const { instances, answers } = fleet(1, { limits: [{ name: 'small', limit: 2, window: 60 }] }, clock, jittered)
    const ip = freshIp()
    const send = oneAtATime(instances[0]!, ip, clock, jittered)
    expect(await send()).toBe(200)
    expect(await send()).toBe(200)
    expect(await send()).toBe(429)
    const asked = jittered.callsOf('lease')
    await clock.advance(1000)
    expect(await send()).toBe(429)
    expect(jittered.callsOf('lease')).toBe(asked)
    await clock.advance(LOCAL_DENIAL_MS - 1000)
    expect(await send()).toBe(429)
    expect(jittered.callsOf('lease')).toBe(asked + 1)
    expect(answers.map((a) => [a.status, a.retryAfter])).toEqual([[200, null], [200, null], [429, '60'], [429, '59'], [429, '55']])
  })

  it('an admin reset is seen within the local denial (5 s)', async () => {
    const clock = manualRuntime({ start: T0 })
    const jittered = jitteredNamespace(clock, { seed: 9, maxMs: 0 })
    const { instances } = fleet(1, { limits: [{ name: 'small', limit: 1, window: 3600 }] }, clock, jittered)
    const ip = freshIp()
    const send = oneAtATime(instances[0]!, ip, clock, jittered)
    expect(await send()).toBe(200)
    expect(await send()).toBe(429)
    await limiterFor(`ip=${ip}`).reset()
    // Still denied here until the local denial ends; then the object is asked, and admits.
    expect(await send()).toBe(429)
    await clock.advance(LOCAL_DENIAL_MS)
    expect(await send()).toBe(200)
  })
})

describe('an allowance on its own', () => {
  /** A link whose answers the test hands out, one ask at a time. */
  function heldLink() {
    const asks: { ask: LeaseAsk; answer(result: Partial<LeaseResult>): void }[] = []
    const link: LimiterLink = {
      lease: (ask) =>
        new Promise((resolve) => asks.push({ ask, answer: (r) => resolve({ allowed: true, id: ask.id, granted: 0, durationMs: 0, decisions: [], ...r }) })),
      refund: async () => 1,
    }
    return { link, asks }
  }

  it('times a lease from the ask, not the answer, and stops a margin before its end', async () => {
    const clock = manualRuntime({ start: T0 })
    const { link, asks } = heldLink()
    const allowance = new Allowance()
    const first = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 1)
    // The answer comes 1.5 s after the ask, for a 2 s lease of 10 units.
    clock.move(1500)
    asks[0]!.answer({ granted: 10, durationMs: 2000 })
    expect(await first).toMatchObject({ allowed: true })
    clock.move(299)
    const topUps: Promise<unknown>[] = []
    expect(await allowance.take(clock, link, (work) => topUps.push(work))).toMatchObject({ allowed: true })
    expect(allowance.unspent(clock.now())).toBe(8)
    // The lease is about to end: a top-up in the background, reporting the 2 units spent so far,
    // at 1.5 s and 1.799 s after the lease's ask.
    expect(topUps).toHaveLength(1)
    expect(asks[1]!.ask).toMatchObject({ need: 0, reports: [{ id: asks[0]!.ask.id, spent: [[1500, 1], [1799, 1]], final: false }] })
    asks[1]!.answer({ granted: 0 })
    await topUps[0]
    // 2 s from the ask less a tenth: nothing left to spend, so the next request asks, and the
    // first lease is reported final (the 8 units never spent go back).
    clock.move(1)
    expect(allowance.unspent(clock.now())).toBe(0)
    const third = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 3)
    expect(asks[2]!.ask).toMatchObject({ need: 1, reports: [{ id: asks[0]!.ask.id, spent: [], final: true }] })
    asks[2]!.answer({ allowed: false, decisions: [{ id: 'w', allowed: false, limit: 10, remaining: 0, resetMs: 9000, windowMs: 10_000, retryAfterMs: 9000 }] })
    expect(await third).toMatchObject({ allowed: false })
  })

  it('reports spends in steps of 1/200 of the shortest window, each rounded up (counted later, never earlier)', async () => {
    const window = (windowMs: number) => ({ id: `w${windowMs}`, kind: 'window' as const, limit: 10, windowMs })
    expect(reportStepMs([window(60_000), window(1000)])).toBe(5)
    expect(reportStepMs([window(100)])).toBe(1)
    expect(reportStepMs([{ id: 'q', kind: 'quota', limit: 10, period: 'day' }])).toBe(1)

    const clock = manualRuntime({ start: T0 })
    const { link, asks } = heldLink()
    const allowance = new Allowance(1, reportStepMs([window(1000)]))
    const first = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 1)
    asks[0]!.answer({ granted: 100, durationMs: 2000 })
    expect(await first).toMatchObject({ allowed: true })
    // Spent at 0 ms (the first), then 1, 3, 5, 6 and 12 ms after the ask.
    for (const at of [1, 3, 5, 6, 12]) {
      clock.move(at - (clock.now() - T0))
      expect(await allowance.take(clock, link, () => {})).toMatchObject({ allowed: true })
    }
    // Past the lease's usable end: the next request asks, reporting the lease final, its spends
    // grouped by step and rounded up: 0 -> 0, 1/3/5 -> 5, 6 -> 10, 12 -> 15.
    clock.move(1800)
    const next = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 2)
    expect(asks[1]!.ask.reports).toEqual([{ id: asks[0]!.ask.id, spent: [[0, 1], [5, 3], [10, 1], [15, 1]], final: true }])
    asks[1]!.answer({ granted: 1, durationMs: 0 })
    expect(await next).toMatchObject({ allowed: true })
  })

  it('a lease spent by another request before its asker looks: the asker asks again, it is not denied', async () => {
    const clock = manualRuntime({ start: T0 })
    const asks: { ask: LeaseAsk; answered: Promise<LeaseResult>; answer(result: Partial<LeaseResult>): void }[] = []
    const link: LimiterLink = {
      lease: (ask) => {
        let answer!: (result: Partial<LeaseResult>) => void
        const answered = new Promise<LeaseResult>((resolve) => {
          answer = (r) => resolve({ allowed: true, id: ask.id, granted: 0, durationMs: 0, decisions: [], ...r })
        })
        asks.push({ ask, answered, answer })
        return answered
      },
      refund: async () => 1,
    }
    const allowance = new Allowance()
    const asker = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 1)
    // Handlers of one promise run in the order they were added: the allowance's (which adds the
    // lease) first, then this one, which takes the lease's only unit before the asker's turn.
    let other: Promise<unknown> | undefined
    void asks[0]!.answered.then(() => {
      other = allowance.take(clock, link, () => {})
    })
    asks[0]!.answer({ granted: 1, durationMs: 2000 })
    await clock.until(() => other !== undefined)
    expect(await other).toMatchObject({ allowed: true })
    // The asker found the lease empty: it asks again (it was a 429 naming no limit, then a 500).
    await clock.until(() => asks.length === 2)
    expect(asks[1]!.ask).toMatchObject({ need: 1 })
    asks[1]!.answer({ granted: 4, durationMs: 2000 })
    expect(await asker).toMatchObject({ allowed: true })
    expect(allowance.unspent(clock.now())).toBe(3)
  })

  it('gives a unit back to its lease when another object denied the request', async () => {
    const clock = manualRuntime({ start: T0 })
    const { link, asks } = heldLink()
    const allowance = new Allowance()
    const first = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 1)
    asks[0]!.answer({ granted: 3, durationMs: 2000 })
    const taken = await first
    if (!('allowed' in taken) || !taken.allowed) throw new Error('expected a unit')
    expect(allowance.unspent(clock.now())).toBe(2)
    expect(await taken.giveBack()).toBe(true)
    expect(allowance.unspent(clock.now())).toBe(3)
  })

  it('a request costing 3 spends 3 units, asks for them, and gives 3 back', async () => {
    const clock = manualRuntime({ start: T0 })
    const { link, asks } = heldLink()
    const allowance = new Allowance(3)
    const first = allowance.take(clock, link, () => {})
    await clock.until(() => asks.length === 1)
    expect(asks[0]!.ask).toMatchObject({ need: 3, want: 3 })
    asks[0]!.answer({ granted: 9, durationMs: 2000 })
    const taken = await first
    if (!('allowed' in taken) || !taken.allowed) throw new Error('expected units')
    expect(allowance.unspent(clock.now())).toBe(6)
    await allowance.take(clock, link, () => {})
    await allowance.take(clock, link, () => {})
    expect(allowance.unspent(clock.now())).toBe(0)
    expect(await taken.giveBack()).toBe(true)
    expect(allowance.unspent(clock.now())).toBe(3)
  })
})
