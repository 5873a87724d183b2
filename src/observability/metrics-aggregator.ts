/**
 * @module
 * `MetricsAggregator`: one shard of the built-in metrics store. Isolates send it pre-folded groups
 * (per minute, route and consumer); it adds them into minute rows in its SQLite storage (heap
 * state would be lost on eviction), answers window queries with totals per time step, route and
 * consumer, and deletes rows past the retention from an alarm.
 *
 * Shards are `idFromName("shard-<n>")`; each isolate writes to one shard picked at random, a query
 * reads all of them and merges (histograms add, see `./histogram`).
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../core/env'
import { COUNT_FIELDS, type Group, newGroup, mergeGroup, summarize, type ShardSummary } from './metric-groups'
import type { Histogram } from './histogram'
import { systemRuntime, type Runtime } from '../core/runtime'

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

  /** The object's own runtime: a Durable Object is not built by `createGateway`, so it holds the system's. */
  private readonly runtime: Runtime = systemRuntime

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.sql = ctx.storage.sql
    this.sql.exec(`CREATE TABLE IF NOT EXISTS buckets (
      minute INTEGER NOT NULL, route TEXT NOT NULL, consumer TEXT NOT NULL, ${COLUMNS},
      latency TEXT NOT NULL, upstream_latency TEXT NOT NULL, PRIMARY KEY (minute, route, consumer))`)
    this.sql.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)')
    // A table made by an earlier version lacks the count fields added since (`hedges`, ...): added in place, zero for old rows.
    const present = new Set(this.sql.exec('SELECT * FROM buckets LIMIT 0').columnNames)
    for (const f of COUNT_FIELDS) if (!present.has(f)) this.sql.exec(`ALTER TABLE buckets ADD COLUMN ${f} INTEGER NOT NULL DEFAULT 0`)
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
        this.sql.exec(
          `INSERT OR REPLACE INTO buckets (minute, route, consumer, ${COUNT_FIELDS.join(', ')}, latency, upstream_latency)
           VALUES (?, ?, ?, ${COUNT_FIELDS.map(() => '?').join(', ')}, ?, ?)`,
          merged.minute,
          merged.route,
          merged.consumer,
          ...COUNT_FIELDS.map((f) => merged.counts[f]),
          JSON.stringify(merged.latency),
          JSON.stringify(merged.upstreamLatency),
        )
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
