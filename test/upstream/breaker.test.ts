import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from '../../src/upstream/breaker'
import { controlClock } from './fleet'

const base = { window: 10_000, minRequests: 10, openMs: 5_000, halfOpenRequests: 2 }

describe('circuit breaker state machine (controllable clock)', () => {
  it('closed -> open on consecutive failures; a success in between resets the count', () => {
    const clock = controlClock()
    const b = new CircuitBreaker({ ...base, failures: 3 }, clock)
    b.record(false), b.record(false), b.record(true), b.record(false), b.record(false)
    expect(b.current()).toBe('closed')
    b.record(false)
    expect(b.current()).toBe('open')
    expect(b.acquire()).toBe(false)
    expect(b.reopensIn()).toBe(5_000)
  })

  it('open -> half-open after openMs, admitting only halfOpenRequests probes; all passing closes it', () => {
    const clock = controlClock()
    const b = new CircuitBreaker({ ...base, failures: 1 }, clock)
    b.record(false)
    clock.move(4_999)
    expect(b.current()).toBe('open')
    clock.move(1)
    expect(b.current()).toBe('half-open')
    expect([b.acquire(), b.acquire(), b.acquire()]).toEqual([true, true, false])
    b.record(true)
    expect(b.current()).toBe('half-open')
    expect(b.acquire()).toBe(true) // a slot freed by the first probe's answer
    b.record(true)
    expect(b.current()).toBe('closed')
    b.record(true)
    expect(b.acquire()).toBe(true)
  })

  it('tells exactly the outcome that opened the circuit, once per opening (what the metrics count)', () => {
    const clock = controlClock()
    const b = new CircuitBreaker({ ...base, failures: 2, halfOpenRequests: 1 }, clock)
    expect([b.record(false), b.record(false), b.record(false)]).toEqual([false, true, false]) // the third: a late answer
    clock.move(5_000)
    b.acquire()
    expect(b.record(false)).toBe(true) // a failed probe opens it again
    clock.move(5_000)
    b.acquire()
    expect(b.record(true)).toBe(false)
    expect(b.current()).toBe('closed')
    // On the error ratio too.
    const r = new CircuitBreaker({ ...base, errorRatio: 0.5, minRequests: 2 }, clock)
    expect([r.record(true), r.record(false)]).toEqual([false, true])
  })

  it('a failed half-open probe re-opens the circuit for another openMs', () => {
    const clock = controlClock()
    const b = new CircuitBreaker({ ...base, failures: 1 }, clock)
    b.record(false)
    clock.move(5_000)
    expect(b.acquire()).toBe(true)
    b.record(false)
    expect(b.current()).toBe('open')
    clock.move(4_000)
    expect(b.current()).toBe('open')
    clock.move(1_000)
    expect(b.current()).toBe('half-open')
  })

  it('opens on an error ratio over the window, only once minRequests is reached', () => {
    const clock = controlClock()
    const b = new CircuitBreaker({ ...base, errorRatio: 0.5, minRequests: 10 }, clock)
    for (let i = 0; i < 4; i++) b.record(false), b.record(true) // 4 of 8 failed: too few requests
    expect(b.current()).toBe('closed')
    b.record(true) // 4 of 9
    b.record(false) // 5 of 10 = 0.5
    expect(b.current()).toBe('open')
  })

  it('failures that fell out of the window no longer count', () => {
    const clock = controlClock()
    const b = new CircuitBreaker({ ...base, errorRatio: 0.5, minRequests: 4 }, clock)
    b.record(false), b.record(false), b.record(false)
    clock.move(10_001)
    b.record(true), b.record(true), b.record(true), b.record(false) // 1 of 4 in the window
    expect(b.current()).toBe('closed')
  })

  it('defaults to five consecutive failures when no threshold is set', () => {
    const clock = controlClock()
    const b = new CircuitBreaker(base, clock)
    for (let i = 0; i < 4; i++) b.record(false)
    expect(b.current()).toBe('closed')
    b.record(false)
    expect(b.current()).toBe('open')
  })
})
