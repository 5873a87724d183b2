/**
 * @module
 * Holds the active gateway for this isolate. The bundled config is validated on the first request
 * (Workers allow no I/O at startup, and bindings are only known then), unless the build prepared
 * it (`config/prepared.ts`: validated and defaulted at build time by this same code). An invalid bundled config
 * never half-runs: every request gets a 500 problem+json with a safe message, the problems go to
 * the log.
 *
 * With `gateway.reload`, the config is the record `npm run reload` writes to a KV key
 * (`config/record.ts`): one writer validates it and gives it the next version; isolates only read.
 * The first request reads the record (at most `READ_TIMEOUT_MS`), later ones start a re-read in
 * the background once `refreshSeconds` have passed. An isolate
 * - never runs a version lower than the highest it has seen (KV reads lag by up to ~60 s);
 * - keeps the last good config when a new record is missing, unreadable or invalid, and remembers
 *   a refused version, so it is neither validated nor logged again;
 * - with no good config of its own (a new isolate), answers 503 `ERR_CONFIG_UNAVAILABLE`, or runs
 *   the bundled config with `reload.fallback: "bundled"`;
 * - runs the bundled config after a deletion record (`npm run reload -- --delete`), and says so.
 * A new config is validated and compiled in slices between requests (`core/steps.ts`), so no
 * request waits long for a reload of a large config.
 *
 * One host per isolate (`createWorker` builds it): its state is the isolate's, and each config it
 * builds gets the host's runtime (`options.runtime`), so a test moves the reload clock instead of
 * waiting.
 */
import type { Hono } from 'hono'
import { parseConfig, parseConfigSteps } from '../config/parse'
import { configVersion, isPreparedConfig, type PreparedConfig } from '../config/prepared'
import { configOfRecord, recordConfig, type RecordHeader } from '../config/record'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import type { Extensions } from '../core/custom'
import type { Env } from '../core/env'
import { ConfigError, GatewayError, PROBLEMS, problemResponse } from '../core/errors'
import { consoleLogWriter, logEvent, logInfo } from '../core/logging'
import { nextTurn, systemRuntime, type Runtime } from '../core/runtime'
import { runSteps, runStepsYielding } from '../core/steps'
import { createGateway, createGatewaySteps, type GatewayOptions } from './create-gateway'
import { readRecord, type RecordRead } from './record-reader'

/**
 * A runnable config. `version`: a hash of its text (the admin API shows it); `record`: the record
 * version it came from (for the bundled config, that of the deletion record, or 0).
 */
type Active = { app: Hono<AppEnv>; version: string; record: number; bundled: boolean }

type ReloadSettings = NonNullable<GatewayConfig['gateway']['reload']>

/** `extensions`: the project's custom policies and actions, for the bundled config and every record alike. */
export type HostOptions = GatewayOptions & { extensions?: Extensions | undefined }

/** What the log says runs after an event: a record version, the bundled config, or nothing (503). */
type Running = number | 'bundled' | 'none'

export { configVersion }

/** What a request gets while no config runs: the bundled one is invalid, or (with reload) no good one is at hand. */
const REFUSALS = {
  ERR_CONFIG_INVALID: 'The gateway configuration is invalid; see the gateway logs.',
  ERR_CONFIG_UNAVAILABLE: 'The gateway has no usable configuration; see the gateway logs.',
} as const

export class GatewayHost {
  private active: Active | undefined
  private bundledConfig: GatewayConfig | undefined
  private broken = false
  private starting: Promise<void> | undefined
  private reloading: Promise<void> | undefined
  private lastReloadCheck = 0
  /** From the bundled config: a config read from KV can't turn reloading off or point it elsewhere. */
  private reloadSettings: ReloadSettings | undefined
  /** The highest record version seen (run, refused or deleted): a lower one never runs. */
  private seen = 0
  /** Record versions refused: never fetched past their header or validated again. */
  private readonly refused = new Set<number>()
  /** What was logged about the current kind of read, so an unchanged state is logged once, not on each refresh. */
  private readonly logged = new Set<string>()
  private lastReadKind: RecordRead['kind'] | undefined

  /** The bundled config as written; `prepared`: the same, made ready at build time (`config/prepared.ts`). */
  private readonly bundled: unknown
  private readonly prepared: PreparedConfig | undefined

  constructor(
    bundled: unknown,
    private readonly options: HostOptions = {},
  ) {
    this.prepared = isPreparedConfig(bundled) ? bundled : undefined
    this.bundled = this.prepared ? this.prepared.source : bundled
  }

  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    this.starting ??= this.start(env)
    await this.starting
    const runtime = this.runtime
    if (this.broken) return this.refuse('ERR_CONFIG_INVALID', request)
    const reload = this.reloadSettings
    if (reload && !this.reloading && runtime.now() - this.lastReloadCheck > reload.refreshSeconds * 1000) {
      // Set before the read starts, so concurrent requests don't each start one.
      this.lastReloadCheck = runtime.now()
      runtime.waitUntil(ctx, this.reload(env))
    }
    if (!this.active) return this.refuse('ERR_CONFIG_UNAVAILABLE', request, reload && { 'Retry-After': String(reload.refreshSeconds) })
    return this.active.app.fetch(request, env, ctx)
  }

  /** The runtime every config this host builds is handed (`options.runtime`, default the system's). */
  private get runtime(): Runtime {
    return this.options.runtime ?? systemRuntime
  }

  /** The active config's version (a hash of its text), or undefined while none runs. */
  get version(): string | undefined {
    return this.active?.version
  }

  /** The version of the record the active config came from (0: the bundled config, no record). */
  get recordVersion(): number | undefined {
    return this.active?.record
  }

  private async start(env: Env): Promise<void> {
    // A config prepared at build time was validated there, by this code: the validator is skipped.
    // Custom policies and actions are the project's, unknown to the build: such a config is checked here.
    const extensions = this.options.extensions
    const custom = extensions !== undefined && (Object.keys(extensions.policies ?? {}).length > 0 || Object.keys(extensions.actions ?? {}).length > 0)
    const parsed = this.prepared && !custom ? { ok: true as const, config: this.prepared.config } : parseConfig(this.bundled, extensions)
    if (!parsed.ok) return this.bundledInvalid(parsed.problems)
    this.bundledConfig = parsed.config
    this.reloadSettings = parsed.config.gateway.reload
    if (!this.reloadSettings) return this.runBundled(env, 0)
    this.lastReloadCheck = this.runtime.now()
    await this.reload(env)
  }

  private bundledInvalid(problems: string[]): void {
    this.broken = true
    this.active = undefined
    logEvent('config_invalid', { source: 'bundled', problems })
  }

  /** Makes the bundled config the active one (`record`: the deletion record's version, or 0). */
  private async runBundled(env: Env, record: number): Promise<void> {
    const source = this.bundled
    const version = this.prepared?.version ?? (await configVersion(JSON.stringify(source)))
    try {
      const app = createGateway(this.bundledConfig!, env, { ...this.options, configVersion: version, source })
      this.active = { app, version, record, bundled: true }
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [String(err)]
      // With reload, a good record may still come: keep what runs (or the 503) and keep reading.
      if (this.reloadSettings) logEvent('config_invalid', { source: 'bundled', problems })
      else this.bundledInvalid(problems)
    }
  }

  /** Reads the record and swaps in a new good version. Never throws; one read at a time. */
  reload(env: Env): Promise<void> {
    this.reloading ??= this.refresh(env).finally(() => {
      this.reloading = undefined
    })
    return this.reloading
  }

  private running(): Running {
    if (!this.active) return 'none'
    return this.active.bundled ? 'bundled' : this.active.record
  }

  private async refresh(env: Env): Promise<void> {
    const { kv: binding, key } = this.reloadSettings!
    const kv = env[binding] as KVNamespace | undefined
    const read: RecordRead = kv
      ? await readRecord(kv, key, this.runtime, (header) => this.wants(header))
      : { kind: 'failed', reason: `no KV binding "${binding}"` }
    if (read.kind !== this.lastReadKind) this.logged.clear()
    this.lastReadKind = read.kind
    switch (read.kind) {
      case 'missing':
        return this.noGoodRecord(env, 'missing', () => logEvent('config_record_missing', { key, running: this.running() }))
      case 'failed':
        return this.noGoodRecord(env, `failed:${read.reason}`, () => logEvent('config_reload_failed', { key, reason: read.reason, running: this.running() }))
      case 'unreadable':
        return this.noGoodRecord(env, `unreadable:${read.problem}`, () =>
          logEvent('config_reload_rejected', { key, problems: [read.problem], running: this.running() }),
        )
      case 'known':
        if (read.header.version < this.seen && read.header.version !== this.active?.record) {
          this.once(`stale:${read.header.version}`, () => logInfo('config_record_stale', { key, version: read.header.version, seen: this.seen, running: this.running() }))
        }
        return
      case 'record':
        this.seen = Math.max(this.seen, read.header.version)
        if (read.header.deleted) return this.deleted(env, key, read.header)
        return this.load(env, key, read.header, read.body)
    }
  }

  /** Whether a record with this header is worth reading on: newer than what runs and what was seen, and not refused. */
  private wants(header: RecordHeader): boolean {
    return header.version > (this.active?.record ?? 0) && header.version >= this.seen && !this.refused.has(header.version)
  }

  private once(note: string, log: () => void): void {
    if (this.logged.has(note)) return
    this.logged.add(note)
    log()
  }

  /**
   * No good record this time: a running config keeps running; an isolate without one falls back
   * to the bundled config if `reload.fallback` says so, else answers 503. Logged once per state.
   */
  private async noGoodRecord(env: Env, note: string, log: () => void): Promise<void> {
    if (!this.active && this.reloadSettings!.fallback === 'bundled') await this.runBundled(env, 0)
    this.once(note, log)
  }

  private async deleted(env: Env, key: string, header: RecordHeader): Promise<void> {
    await this.runBundled(env, header.version)
    this.logged.clear()
    logInfo('config_record_deleted', { key, version: header.version, writtenAt: header.writtenAt, running: this.running() })
  }

  private async load(env: Env, key: string, header: RecordHeader, body: Uint8Array | undefined): Promise<void> {
    const previous = this.running()
    try {
      this.active = await this.build(header, body, env)
      this.logged.clear()
      logInfo('config_reloaded', { key, version: header.version, writtenAt: header.writtenAt, configVersion: this.active.version, previous })
    } catch (err) {
      this.refused.add(header.version)
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message]
      await this.noGoodRecord(env, `refused:${header.version}`, () => {})
      logEvent('config_reload_rejected', { key, version: header.version, problems, running: this.running() })
    }
  }

  /**
   * Parses, validates and compiles a record's config, yielding the thread between slices of its
   * routes. The config as written is never held whole: its routes are parsed a line at a time as
   * they are validated, and the admin API's view of it is read again from the record's text.
   */
  private async build(header: RecordHeader, body: Uint8Array | undefined, env: Env): Promise<Active> {
    const { config, routes } = recordConfig(header, body)
    const parsed = await runStepsYielding(parseConfigSteps(config, this.options.extensions, routes), nextTurn)
    if (!parsed.ok) throw new ConfigError(parsed.problems)
    const version = await configVersion(body!)
    const source = () => runSteps(configOfRecord(header, body))
    const options = { ...this.options, configVersion: version, source }
    const app = await runStepsYielding(createGatewaySteps(parsed.config, env, options), nextTurn)
    return { app, version, record: header.version, bundled: false }
  }

  /** The refusal every request gets while no config runs, with its request log line. */
  private refuse(code: 'ERR_CONFIG_INVALID' | 'ERR_CONFIG_UNAVAILABLE', request: Request, headers?: Record<string, string>): Response {
    const requestId = this.runtime.randomId()
    const res = problemResponse(new GatewayError(code, { detail: REFUSALS[code], headers }), requestId)
    res.headers.set('X-Request-Id', requestId)
    const writeLog = this.options.writeLog ?? consoleLogWriter
    writeLog({ requestId, method: request.method, path: new URL(request.url).pathname, status: PROBLEMS[code].status, error: code })
    return res
  }
}
