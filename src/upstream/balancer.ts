/**
 * @module
 * Choosing a target among the available ones:
 *
 * - `round-robin`: smooth weighted round robin (as nginx): weights are honoured and interleaved
 *   (5:1 gives A A B A A A, not A A A A A B).
 * - `weighted-random`: each pick independent, in proportion to the weights.
 * - `least-requests`: fewest requests in flight from this isolate (awaiting response headers),
 *   relative to weight; ties go round robin. Per isolate: Workers isolates share no memory.
 * - `hash`: consistent hashing of an affinity key (consumer, IP, a header or a cookie) on a ring
 *   of virtual nodes (up to 100 per unit of weight), so a key keeps its target, and when that target is
 *   out only its keys move (to the next target on the ring). No key: round robin.
 *
 * The caller passes the candidates (healthy, circuit not open, not the one just tried); the
 * balancer only chooses.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../core/context'
import { hash32, systemRuntime, type Runtime } from '../core/runtime'
import type { Target } from './pool'

export type BalanceKind = 'round-robin' | 'weighted-random' | 'least-requests' | 'hash'

export type Balancer = {
  pick(candidates: Target[], key: string | undefined): Target | undefined
  /** Requests in flight per target index (least-requests bookkeeping). */
  started(target: Target): void
  finished(target: Target): void
}

const VNODES_PER_WEIGHT = 100

function smoothRoundRobin(targets: Target[]) {
  const current = new Float64Array(targets.length)
  return (candidates: Target[]): Target | undefined => {
    let best: Target | undefined
    let total = 0
    for (const t of candidates) {
      if (t.weight <= 0) continue
      current[t.index]! += t.weight
      total += t.weight
      if (!best || current[t.index]! > current[best.index]!) best = t
    }
    if (best) current[best.index]! -= total
    return best
  }
}

function weightedRandom(candidates: Target[], random: () => number): Target | undefined {
  let total = 0
  for (const t of candidates) total += t.weight
  if (total <= 0) return undefined
  let r = random() * total
  for (const t of candidates) {
    r -= t.weight
    if (r < 0 && t.weight > 0) return t
  }
  return candidates.findLast((t) => t.weight > 0)
}

/** A sorted ring of (point, target index); built once per isolate. */
function buildRing(targets: Target[]): { points: Uint32Array; owners: Uint16Array } {
  const entries: [number, number][] = []
  // Bounded: at most ~10,000 points however large the weights.
  const total = targets.reduce((sum, t) => sum + t.weight, 0)
  const perWeight = Math.max(1, Math.min(VNODES_PER_WEIGHT, Math.floor(10_000 / Math.max(1, total))))
  for (const t of targets) {
    for (let v = 0; v < t.weight * perWeight; v++) entries.push([hash32(`${t.id}#${v}`), t.index])
  }
  entries.sort((a, b) => a[0] - b[0])
  return { points: Uint32Array.from(entries, (e) => e[0]), owners: Uint16Array.from(entries, (e) => e[1]) }
}

function ringLookup(ring: { points: Uint32Array; owners: Uint16Array }, key: string, candidates: Target[]): Target | undefined {
  const n = ring.points.length
  if (n === 0) return undefined
  const allowed = new Map(candidates.map((t) => [t.index, t]))
  const h = hash32(key)
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (ring.points[mid]! < h) lo = mid + 1
    else hi = mid
  }
  // Walk clockwise to the first allowed owner; bounded by the ring's size.
  for (let i = 0; i < n; i++) {
    const owner = allowed.get(ring.owners[(lo + i) % n]!)
    if (owner) return owner
  }
  return undefined
}

export function createBalancer(kind: BalanceKind, targets: Target[], runtime: Runtime = systemRuntime): Balancer {
  const inFlight = new Int32Array(targets.length)
  const roundRobin = smoothRoundRobin(targets)
  const ring = kind === 'hash' ? buildRing(targets) : undefined
  const tracking = kind === 'least-requests'
  return {
    pick(candidates, key) {
      if (candidates.length === 0) return undefined
      if (candidates.length === 1) return candidates[0]!.weight > 0 ? candidates[0] : undefined
      switch (kind) {
        case 'weighted-random':
          return weightedRandom(candidates, runtime.random)
        case 'hash':
          return key !== undefined ? ringLookup(ring!, key, candidates) : roundRobin(candidates)
        case 'least-requests': {
          let least = Infinity
          let tied: Target[] = []
          for (const t of candidates) {
            if (t.weight <= 0) continue
            const load = inFlight[t.index]! / t.weight
            if (load < least) (least = load), (tied = [t])
            else if (load === least) tied.push(t)
          }
          return roundRobin(tied)
        }
        default:
          return roundRobin(candidates)
      }
    },
    started(target) {
      if (tracking) inFlight[target.index]!++
    },
    finished(target) {
      if (tracking) inFlight[target.index] = Math.max(0, inFlight[target.index]! - 1)
    },
  }
}

function cookieValue(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export { cookieValue }

/**
 * Compiles a key source (`consumer`, `ip`, `header:X-Tenant`, `cookie:session`) into a reader.
 * Reads the request as the upstream will receive it (`headers`), plus the consumer from `c`.
 */
export function keyReader(source: string): (headers: Headers, c: Context<AppEnv> | undefined) => string | undefined {
  if (source === 'consumer') return (_, c) => c?.get('consumer')?.key
  if (source === 'ip') return (headers, c) => c?.req.header('cf-connecting-ip') ?? headers.get('cf-connecting-ip') ?? undefined
  const colon = source.indexOf(':')
  const name = source.slice(colon + 1)
  if (source.startsWith('header:')) return (headers) => headers.get(name) ?? undefined
  return (headers) => cookieValue(headers.get('cookie'), name)
}
