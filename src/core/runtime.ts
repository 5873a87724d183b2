/**
 * @module
 * The time and randomness the resilience state machines read (breaker, ejection, retry budget,
 * backoff jitter, weighted choices). One object, so tests can swap in a controllable clock and a
 * fixed random source instead of waiting or hoping. Timeouts of real I/O still use real timers.
 */
export type Clock = {
  /** Milliseconds since the epoch. */
  now(): number
  /** A number in [0, 1). */
  random(): number
}

export const clock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
}

/** 32-bit FNV-1a: a fast, well-spread hash for affinity keys (not for security). */
export function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  // A final avalanche, so keys differing only at the end still land far apart on the ring.
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  return h >>> 0
}
