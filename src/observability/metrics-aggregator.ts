/**
 * @module
 * `MetricsAggregator`: one shard of the built-in metrics store. Isolates send it pre-folded groups
 * (per minute, route and consumer); it adds them into minute rows in its SQLite storage (heap
 * state would be lost on eviction), answers window queries with totals per time step, route and
 * consumer, and deletes rows past the retention from an alarm. Beside the minute rows it keeps a
 * cumulative total per route and consumer that is never deleted: the counters of the Prometheus
 * scrape (`./prometheus.ts`), which must never go down.
 *
 * Shards are `idFromName("shard-<n>")`; each isolate writes to one shard picked at random, a query
 * reads all of them and merges (histograms add, see `./histogram`).
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../core/env'
import { COUNT_FIELDS, type Group, newGroup, mergeGroup, summarize, type ShardSummary } from './metric-groups'
import type { Histogram } from './histogram'
import { systemRuntime, type Runtime } from '../core/runtime'

/**
 * The cumulative totals a shard keeps, for Prometheus, are bounded so the scrape's label sets stay
 * bounded however many consumers call: at most `MAX_TOTAL_CONSUMERS` consumers per route (traffic
 * of one first seen later counts under consumer `(other)` of that route) and `MAX_TOTAL_ROUTES`
 * routes (later ones count under route `(other)`). Totals never expire: counters never go down.
 */
export const MAX_TOTAL_CONSUMERS = 50
export const MAX_TOTAL_ROUTES = 1000
export const OTHER = '(other)'

/** How often the cleanup alarm runs while rows remain. */
export const CLEANUP_INTERVAL_MS = 10 * 60_000

const COLUMNS = COUNT_FIELDS.map((f) => `${f} INTEGER NOT NULL DEFAULT 0`).join(', ')
const MAX_LABEL = 128

type Row = Record<string, string | number | null>

function parseHistogram(text: unknown): Histogram {
  try {
    const value = JSON.parse(String(text)) as unknown
    return value && typeof value === 'object' ? (value as Histogram) : {}
  } catch {
    return {}
  }
}

function validGroup(group: unknown): group is Group {
  const g = group as Group
  return (
    !!g &&
    Number.isSafeInteger(g.minute) &&
    typeof g.route === 'string' &&
    typeof g.consumer === 'string' &&
    g.route.length <= MAX_LABEL &&
    g.consumer.length <= MAX_LABEL &&
    !!g.counts &&
    typeof g.latency === 'object' &&
    typeof g.upstreamLatency === 'object'
  )
}

export class MetricsAggregator extends DurableObject<Env> {
  private readonly sql: SqlStorage
  private alarmChecked = false
  /** Routes named in `totals` (counted on first need; only this object adds to it). */
  private totalRoutes: number | undefined

  /** The object's own runtime: a Durable Object is not built by `createGateway`, so it holds the system's. */
  private readonly runtime: Runtime = systemRuntime

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.sql = ctx.storage.sql
    this.sql.exec(`CREATE TABLE IF NOT EXISTS buckets (
      minute INTEGER NOT NULL, route TEXT NOT NULL, consumer TEXT NOT NULL, ${COLUMNS},
      latency TEXT NOT NULL, upstream_latency TEXT NOT NULL, PRIMARY KEY (minute, route, consumer))`)
    this.sql.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)')
    this.sql.exec(`CREATE TABLE IF NOT EXISTS totals (
      route TEXT NOT NULL, consumer TEXT NOT NULL, ${COLUMNS},
      latency TEXT NOT NULL, upstream_latency TEXT NOT NULL, PRIMARY KEY (route, consumer))`)
    // A shard made by an older version lacks the newer count columns, in its rows and its totals
    // (a count added later starts at 0 in a total: it counts from when this version first ran).
    for (const table of ['buckets', 'totals']) {
      const have = new Set(this.sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray().map((c) => c.name))
      for (const f of COUNT_FIELDS) if (!have.has(f)) this.sql.exec(`ALTER TABLE ${table} ADD COLUMN ${f} INTEGER NOT NULL DEFAULT 0`)
    }
  }

  /** Adds groups into their minute rows. Returns how many groups were taken (malformed ones are skipped). */
  async ingest(groups: Group[], retentionMinutes: number): Promise<number> {
    let taken = 0
    this.ctx.storage.transactionSync(() => {
      for (const group of groups) {
        if (!validGroup(group)) continue
        const row = this.sql
          .exec<Row>('SELECT * FROM buckets WHERE minute = ? AND route = ? AND consumer = ?', group.minute, group.route, group.consumer)
          .toArray()[0]
        const merged = mergeGroup(row ? this.groupOf(row) : newGroup(group.minute, group.route, group.consumer), group)
        this.write('buckets', merged, true)
        this.addToTotals(group)
        taken++
      }
      if (Number.isInteger(retentionMinutes) && retentionMinutes > 0) {
        this.sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', 'retentionMinutes', retentionMinutes)
      }
    })
    if (!this.alarmChecked) {
      this.alarmChecked = true
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(this.runtime.now() + CLEANUP_INTERVAL_MS)
    }
    return taken
  }

  /** Totals for minutes in [fromMinute, toMinute], per step of `stepMinutes`, per route and per consumer. */
  async query(fromMinute: number, toMinute: number, stepMinutes: number): Promise<ShardSummary> {
    const rows = this.sql.exec<Row>('SELECT * FROM buckets WHERE minute >= ? AND minute <= ?', fromMinute, toMinute).toArray()
    return summarize(
      rows.map((row) => this.groupOf(row)),
      Math.max(1, Math.floor(stepMinutes)),
    )
  }

  /** The cumulative totals per route and consumer since the shard began (never deleted). */
  async totals(): Promise<Group[]> {
    return this.sql.exec<Row>('SELECT * FROM totals').toArray().map((row) => this.groupOf({ ...row, minute: 0 }))
  }

  /** Adds a group into its (route, consumer) total, or an `(other)` one past the bounds (`MAX_TOTAL_CONSUMERS`, `MAX_TOTAL_ROUTES`). */
  private addToTotals(group: Group): void {
    const find = (route: string, consumer: string) => this.sql.exec<Row>('SELECT * FROM totals WHERE route = ? AND consumer = ?', route, consumer).toArray()[0]
    const count = (query: string, ...args: string[]) => this.sql.exec<{ n: number }>(query, ...args).one().n
    let { route, consumer } = group
    let row = find(route, consumer)
    if (!row) {
      // A new pair (rare once traffic has been seen): is its route known, and does it have room?
      const consumers = count('SELECT COUNT(*) AS n FROM totals WHERE route = ?', route)
      this.totalRoutes ??= count('SELECT COUNT(DISTINCT route) AS n FROM totals WHERE route != ?', OTHER)
      if (consumers === 0 && route !== OTHER) {
        if (this.totalRoutes >= MAX_TOTAL_ROUTES) route = consumer = OTHER
        else this.totalRoutes++
      } else if (consumers >= MAX_TOTAL_CONSUMERS) consumer = OTHER
      row = find(route, consumer)
    }
    this.write('totals', mergeGroup(row ? this.groupOf({ ...row, minute: 0 }) : newGroup(0, route, consumer), group), false)
  }

  /** Writes a row of `buckets` (keyed by minute, route and consumer) or `totals` (route and consumer). */
  private write(table: 'buckets' | 'totals', group: Group, byMinute: boolean): void {
    const keys = byMinute ? ['minute', 'route', 'consumer'] : ['route', 'consumer']
    const columns = [...keys, ...COUNT_FIELDS, 'latency', 'upstream_latency']
    this.sql.exec(
      `INSERT OR REPLACE INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
      ...(byMinute ? [group.minute] : []),
      group.route,
      group.consumer,
      ...COUNT_FIELDS.map((f) => group.counts[f]),
      JSON.stringify(group.latency),
      JSON.stringify(group.upstreamLatency),
    )
  }

  /** Deletes rows past the retention; comes back while rows remain. */
  override async alarm(): Promise<void> {
    const retention = this.sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'retentionMinutes'").toArray()[0]?.value ?? 1500
    const oldest = Math.floor(this.runtime.now() / 60_000) - retention
    this.sql.exec('DELETE FROM buckets WHERE minute < ?', oldest)
    const left = this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM buckets').one().n
    if (left > 0) await this.ctx.storage.setAlarm(this.runtime.now() + CLEANUP_INTERVAL_MS)
    else this.alarmChecked = false
  }

  private groupOf(row: Row): Group {
    const group = newGroup(Number(row.minute), String(row.route), String(row.consumer))
    for (const f of COUNT_FIELDS) group.counts[f] = Number(row[f] ?? 0)
    group.latency = parseHistogram(row.latency)
    group.upstreamLatency = parseHistogram(row.upstream_latency)
    return group
  }
}
