import { describe, expect, it } from 'vitest'
import { RollingWindow } from '../../src/upstream/rolling-window'
import { controlClock } from './fleet'

describe('rolling window of counts (10 buckets over the window)', () => {
  it('keeps counts for the window, then lets them expire', () => {
    const clock = controlClock()
    const w = new RollingWindow(['requests', 'failed'], 10_000, clock)
    w.add('requests'), w.add('requests'), w.add('failed')
    expect([w.total('requests'), w.total('failed')]).toEqual([2, 1])
    clock.move(9_999)
    expect(w.total('requests')).toBe(2)
    clock.move(1)
    expect([w.total('requests'), w.total('failed')]).toEqual([0, 0])
  })

  it('rolls bucket by bucket: each count leaves the window on its own bucket', () => {
    const clock = controlClock()
    const w = new RollingWindow(['requests'], 10_000, clock)
    w.add('requests')
    clock.move(3_000)
    w.add('requests'), w.add('requests')
    clock.move(6_999)
    expect(w.total('requests')).toBe(3)
    clock.move(1) // the first bucket comes round again
    expect(w.total('requests')).toBe(2)
    clock.move(3_000)
    expect(w.total('requests')).toBe(0)
  })

  it('a long quiet spell empties every bucket, and counting starts afresh', () => {
    const clock = controlClock()
    const w = new RollingWindow(['requests'], 1_000, clock)
    for (let i = 0; i < 5; i++) w.add('requests')
    clock.move(60_000)
    w.add('requests')
    expect(w.total('requests')).toBe(1)
  })

  it('clear forgets every count and restarts the ring now', () => {
    const clock = controlClock()
    const w = new RollingWindow(['requests', 'failed'], 10_000, clock)
    w.add('requests'), w.add('failed')
    clock.move(500)
    w.clear()
    expect([w.total('requests'), w.total('failed')]).toEqual([0, 0])
    w.add('requests')
    clock.move(9_999)
    expect(w.total('requests')).toBe(1)
    clock.move(1)
    expect(w.total('requests')).toBe(0)
  })
})
