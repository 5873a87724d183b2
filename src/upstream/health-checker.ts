/**
 * @module
 * `HealthChecker`: one Durable Object per pool (`idFromName("<gateway>/<upstream>")`) that probes the
 * pool's targets on an alarm and holds the health state every isolate shares.
 *
 * - Isolates call `read(spec)` (RPC) and cache the answer for `cacheMs`: one subrequest per isolate
 *   every few seconds, not one per request. The spec (targets, path, interval, thresholds) travels
 *   with each read, so the object needs no config of its own; a changed spec replaces the old one.
 * - The alarm probes every target's health path at the pool's `interval` (Cron Triggers fire at
 *   most once a minute; alarms at any interval). `unhealthyThreshold` failed probes in a row take a
 *   target out; `healthyThreshold` passed probes bring it back. A probe passes on 2xx or 3xx.
 * - State lives in the object's SQLite storage, so it survives eviction. A new target starts healthy
 *   (passive health covers it until the first probe), so a new pool never starts in an outage.
 * - Probing stops when nobody has read the state for ten intervals (at least five minutes): an
 *   unused pool costs nothing; the next read restarts the alarm.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../core/env'
import { systemRuntime, type Runtime } from '../core/runtime'

export type HealthSpec = {
  targets: { id: string; url?: string; service?: string }[]
  path: string
  interval: number
  timeout: number
  healthyThreshold: number
  unhealthyThreshold: number
}

export type TargetHealthState = {
  healthy: boolean
  /** Time of the last passed probe (0: none yet). */
  okAt: number
  checkedAt: number
  /** Last probe's status, or its error (`timeout`, `unreachable`). */
  last?: number | string
}

export type HealthSnapshot = { targets: Record<string, TargetHealthState>; probedAt: number }

type Row = { id: string; healthy: number; passes: number; fails: number; ok_at: number; checked_at: number; last: string | null }

export class HealthChecker extends DurableObject<Env> {
  private readonly sql: SqlStorage

  /**
   * The object's own runtime (clock and probe timeouts): a Durable Object is not built by
   * `createGateway`, so it holds the system's. Tests may replace it (through `runInDurableObject`);
   * RPC cannot reach an instance field.
   */
  runtime: Runtime = systemRuntime

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.sql = ctx.storage.sql
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS targets (id TEXT PRIMARY KEY, healthy INTEGER NOT NULL, passes INTEGER NOT NULL,
        fails INTEGER NOT NULL, ok_at INTEGER NOT NULL, checked_at INTEGER NOT NULL, last TEXT)`)
  }

  /** The shared state, after adopting `spec` if it changed; starts the probing alarm if idle. */
  async read(spec: HealthSpec): Promise<HealthSnapshot> {
    const text = JSON.stringify(spec)
    if (this.meta('spec') !== text) {
      this.setMeta('spec', text)
      const ids = new Set(spec.targets.map((t) => t.id))
      for (const row of this.rows()) if (!ids.has(row.id)) this.sql.exec('DELETE FROM targets WHERE id = ?', row.id)
      for (const id of ids) this.sql.exec('INSERT OR IGNORE INTO targets VALUES (?, 1, 0, 0, 0, 0, NULL)', id)
    }
    this.setMeta('lastRead', String(this.runtime.now()))
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(this.runtime.now() + spec.interval)
    return this.snapshot()
  }

  /** Probes every target once and records the results. */
  async probe(): Promise<HealthSnapshot> {
    const spec = this.spec()
    if (!spec) return this.snapshot()
    const results = await Promise.all(spec.targets.map((t) => this.probeTarget(t, spec)))
    const now = this.runtime.now()
    for (const [i, result] of results.entries()) {
      const id = spec.targets[i]!.id
      const row = this.rows().find((r) => r.id === id)
      if (!row) continue
      const ok = result === true
      const passes = ok ? row.passes + 1 : 0
      const fails = ok ? 0 : row.fails + 1
      let healthy = row.healthy === 1
      if (healthy && fails >= spec.unhealthyThreshold) healthy = false
      if (!healthy && passes >= spec.healthyThreshold) healthy = true
      this.sql.exec(
        'UPDATE targets SET healthy = ?, passes = ?, fails = ?, ok_at = ?, checked_at = ?, last = ? WHERE id = ?',
        healthy ? 1 : 0, passes, fails, ok ? now : row.ok_at, now, ok ? null : String(result), id,
      )
    }
    this.setMeta('probedAt', String(now))
    return this.snapshot()
  }

  override async alarm(): Promise<void> {
    const spec = this.spec()
    if (!spec) return
    await this.probe()
    const idleFor = this.runtime.now() - Number(this.meta('lastRead') ?? 0)
    if (idleFor < Math.max(10 * spec.interval, 300_000)) await this.ctx.storage.setAlarm(this.runtime.now() + spec.interval)
  }

  private async probeTarget(target: HealthSpec['targets'][number], spec: HealthSpec): Promise<true | number | string> {
    const controller = new AbortController()
    const timer = this.runtime.setTimeout(() => controller.abort(), spec.timeout)
    const init: RequestInit = { signal: controller.signal, redirect: 'manual', headers: { 'user-agent': 'edgeway-health-check' } }
    try {
      let res: Response
      if (target.service !== undefined) {
        const binding = this.env[target.service] as Fetcher | undefined
        if (!binding) return 'no-binding'
        res = await binding.fetch(`https://${target.service}.internal${spec.path}`, init)
      } else res = await fetch(`${target.url}${spec.path}`, init)
      await res.body?.cancel()
      return res.status >= 200 && res.status < 400 ? true : res.status
    } catch {
      return controller.signal.aborted ? 'timeout' : 'unreachable'
    } finally {
      this.runtime.clearTimeout(timer)
    }
  }

  private snapshot(): HealthSnapshot {
    const targets: Record<string, TargetHealthState> = {}
    for (const r of this.rows()) {
      targets[r.id] = {
        healthy: r.healthy === 1,
        okAt: r.ok_at,
        checkedAt: r.checked_at,
        ...(r.last !== null && { last: /^\d+$/.test(r.last) ? Number(r.last) : r.last }),
      }
    }
    return { targets, probedAt: Number(this.meta('probedAt') ?? 0) }
  }

  private rows(): Row[] {
    return this.sql.exec<Row>('SELECT * FROM targets').toArray()
  }

  private spec(): HealthSpec | undefined {
    const text = this.meta('spec')
    return text ? (JSON.parse(text) as HealthSpec) : undefined
  }

  private meta(key: string): string | undefined {
    return this.sql.exec<{ v: string }>('SELECT v FROM meta WHERE k = ?', key).toArray()[0]?.v
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec('INSERT INTO meta VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v', key, value)
  }
}
