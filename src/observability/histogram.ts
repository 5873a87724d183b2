/**
 * @module
 * Latency histograms with fixed log-scale buckets. Every shard and every isolate uses the same
 * bounds, so histograms merge by adding counts, and percentiles over any set of shards and minutes
 * come from the merged counts (averaging per-shard percentiles would be wrong).
 *
 * Bucket 0 holds 0–1 ms; bucket i (1..LAST) holds (2^((i-1)/2), 2^(i/2)] ms, a factor of √2 per
 * bucket (≤ 41% relative error); the last bucket also holds everything slower (2^23 ms ≈ 2.3 h).
 * Stored sparsely: `{ "<bucket>": count }`.
 */

export type Histogram = Record<string, number>

const LAST = 46

export function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0
  return Math.min(LAST, Math.ceil(2 * Math.log2(ms)))
}

/** The upper bound (ms) of a bucket: what a percentile falling in it reports. */
export function bucketUpperMs(bucket: number): number {
  return bucket === 0 ? 1 : Math.round(2 ** (bucket / 2) * 10) / 10
}

export function observe(histogram: Histogram, ms: number): void {
  const key = String(bucketOf(ms))
  histogram[key] = (histogram[key] ?? 0) + 1
}

/** Adds `from` into `into`. Bad entries (from a hand-edited or foreign row) are skipped. */
export function mergeInto(into: Histogram, from: Histogram): Histogram {
  for (const [key, count] of Object.entries(from)) {
    if (!Number.isInteger(count) || count <= 0 || !/^\d+$/.test(key) || Number(key) > LAST) continue
    into[key] = (into[key] ?? 0) + count
  }
  return into
}

export function countOf(histogram: Histogram): number {
  return Object.values(histogram).reduce((sum, n) => sum + n, 0)
}

/** The q-quantile (0 < q ≤ 1) as the upper bound of the bucket that holds it; null when empty. */
export function percentile(histogram: Histogram, q: number): number | null {
  const total = countOf(histogram)
  if (total === 0) return null
  const rank = Math.ceil(q * total)
  let seen = 0
  for (const bucket of Object.keys(histogram).map(Number).sort((a, b) => a - b)) {
    seen += histogram[bucket]!
    if (seen >= rank) return bucketUpperMs(bucket)
  }
  return bucketUpperMs(LAST)
}

export function percentiles(histogram: Histogram): { p50: number | null; p95: number | null; p99: number | null } {
  return { p50: percentile(histogram, 0.5), p95: percentile(histogram, 0.95), p99: percentile(histogram, 0.99) }
}
