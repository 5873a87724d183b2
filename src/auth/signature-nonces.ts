/**
 * @module
 * `SignatureNonces`: one Durable Object per signing key (`idFromName(keyid)`) holding the nonces
 * of the `http-signature` policy's signatures until they expire. A per-isolate set would let the
 * same signed request through once in every isolate; one object per key sees every use of it.
 *
 * - `claim(nonce, expiresAt, now)` records a nonce and says whether it was new. `now` is the
 *   caller's clock (the gateway's injected runtime), so a nonce counts as expired exactly when the
 *   gateway no longer accepts its signature; expired rows are dropped before the check.
 * - Rows live in the object's SQLite storage (eviction keeps them); an alarm at the earliest
 *   expiry deletes expired ones by the object's own runtime, so an unused key costs nothing.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../core/env'
import { systemRuntime, type Runtime } from '../core/runtime'

export class SignatureNonces extends DurableObject<Env> {
  private readonly sql: SqlStorage

  /** The object's clock for its alarm (it is not built by `createGateway`); tests may replace it through `runInDurableObject`. */
  runtime: Runtime = systemRuntime

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.sql = ctx.storage.sql
    // The index keeps the expiry sweep on each claim from scanning every nonce of a busy key.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces (expires_at)`)
  }

  /** True when `nonce` was unseen (now kept until `expiresAt`, ms); false for a replay. */
  async claim(nonce: string, expiresAt: number, now: number): Promise<boolean> {
    this.sql.exec('DELETE FROM nonces WHERE expires_at <= ?', now)
    const seen = this.sql.exec('SELECT 1 FROM nonces WHERE nonce = ?', nonce).toArray().length > 0
    if (seen) return false
    this.sql.exec('INSERT INTO nonces VALUES (?, ?)', nonce, expiresAt)
    const alarm = await this.ctx.storage.getAlarm()
    if (alarm === null || alarm > expiresAt) await this.ctx.storage.setAlarm(expiresAt)
    return true
  }

  /** How many nonces are kept (for tests and the admin view). */
  async size(): Promise<number> {
    return Number(this.sql.exec('SELECT COUNT(*) AS n FROM nonces').one().n)
  }

  override async alarm(): Promise<void> {
    this.sql.exec('DELETE FROM nonces WHERE expires_at <= ?', this.runtime.now())
    const next = this.sql.exec('SELECT MIN(expires_at) AS at FROM nonces').one().at
    if (next !== null) await this.ctx.storage.setAlarm(Number(next))
    else await this.ctx.storage.deleteAlarm()
  }
}
