/**
 * @module
 * Calendar periods of quotas: UTC days and months, as [start, end) in epoch ms.
 */

const DAY_MS = 86_400_000

/** The UTC calendar period containing `now`: [start, end). */
export function periodBounds(period: 'day' | 'month', now: number): [number, number] {
  if (period === 'day') {
    const start = Math.floor(now / DAY_MS) * DAY_MS
    return [start, start + DAY_MS]
  }
  const d = new Date(now)
  return [Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)]
}
