/**
 * @module
 * Holds the active gateway for this isolate. The config bundled with the Worker is compiled on the
 * first request (bindings are only known then). With `gateway.reload`, a config stored in a KV key
 * replaces it without a redeploy: it is validated first, and a bad one is logged and ignored, so
 * the last good config keeps running. An invalid config never half-runs: every request then gets
 * a 500 problem+json with a safe message, and the problems go to the log.
 *
 * One host per isolate (`createWorker` builds it): its state (the active config, the last reload
 * check) is the isolate's, and each config it builds gets the host's runtime (`options.runtime`,
 * default the system's), so a test moves the reload clock instead of waiting.
 */
import type { Hono } from 'hono'
import { ConfigError } from '../core/errors'
import { parseConfig } from '../config/parse'
import type { GatewayConfig } from '../config/schema'
import type { AppEnv } from '../core/context'
import type { Env } from '../core/env'
import { GatewayError, problemResponse } from '../core/errors'
import { createGateway, type GatewayOptions } from './create-gateway'
import { consoleLogWriter, logEvent, type LogWriter } from '../core/logging'
import { sha256Hex } from '../core/encoding'
import { systemRuntime, type Runtime } from '../core/runtime'

type Active = { app: Hono<AppEnv>; config: GatewayConfig; version: string; text: string }

/** A short, stable version for a config: the first 16 hex digits of the SHA-256 of its JSON text. */
export async function configVersion(text: string): Promise<string> {
  return sha256Hex(text, 8)
}

async function build(source: unknown, text: string, env: Env, options: GatewayOptions): Promise<Active> {
  const parsed = parseConfig(source)
  if (!parsed.ok) throw new ConfigError(parsed.problems)
  const version = await configVersion(text)
  const app = createGateway(parsed.config, env, { ...options, configVersion: version, source })
  return { app, config: parsed.config, version, text }
}

/**
 * What every request gets while no valid config runs: a safe 500 (the problems are in the log),
 * and still its request log line, so the outage shows in request logs and metrics pipelines too.
 */
function brokenResponse(request: Request, writeLog: LogWriter, runtime: Runtime): Response {
  const requestId = runtime.randomId()
  const res = problemResponse(
    new GatewayError('ERR_CONFIG_INVALID', { detail: 'The gateway configuration is invalid; see the gateway logs.' }),
    requestId,
  )
  res.headers.set('X-Request-Id', requestId)
  writeLog({ requestId, method: request.method, path: new URL(request.url).pathname, status: 500, error: 'ERR_CONFIG_INVALID' })
  return res
}

type ReloadSettings = NonNullable<GatewayConfig['gateway']['reload']>

export class GatewayHost {
  private active: Active | undefined
  private broken = false
  private lastReloadCheck = 0
  /** From the bundled config: a config read from KV can't turn reloading off or point it elsewhere. */
  private reloadSettings: ReloadSettings | undefined

  constructor(
    private readonly bundled: unknown,
    private readonly options: GatewayOptions = {},
  ) {}

  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    if (!this.active && !this.broken) await this.start(env)
    const reload = this.reloadSettings
    const runtime = this.runtime
    if (this.active && reload && runtime.now() - this.lastReloadCheck > reload.refreshSeconds * 1000) {
      // Set before the read starts, so concurrent requests don't each start one.
      this.lastReloadCheck = runtime.now()
      runtime.waitUntil(ctx, this.reload(env))
    }
    if (!this.active) return brokenResponse(request, this.options.writeLog ?? consoleLogWriter, runtime)
    return this.active.app.fetch(request, env, ctx)
  }

  /** The runtime every config this host builds is handed (`options.runtime`, default the system's). */
  private get runtime(): Runtime {
    return this.options.runtime ?? systemRuntime
  }

  /** The active config's version, or undefined while the gateway is broken. */
  get version(): string | undefined {
    return this.active?.version
  }

  private async start(env: Env): Promise<void> {
    try {
      this.active = await build(this.bundled, JSON.stringify(this.bundled), env, this.options)
    } catch (err) {
      this.broken = true
      logEvent('config_invalid', { source: 'bundled', problems: err instanceof ConfigError ? err.problems : [String(err)] })
      return
    }
    this.reloadSettings = this.active.config.gateway.reload
    if (this.reloadSettings) {
      this.lastReloadCheck = this.runtime.now()
      await this.reload(env)
    }
  }

  /** Reads the KV config; swaps it in when it differs and is valid. Never throws. */
  async reload(env: Env): Promise<void> {
    const reload = this.reloadSettings
    if (!reload) return
    const kv = env[reload.kv] as KVNamespace | undefined
    if (!kv) {
      logEvent('config_reload_failed', { reason: `no KV binding "${reload.kv}"` })
      return
    }
    let text: string | null
    try {
      text = await kv.get(reload.key)
    } catch (err) {
      logEvent('config_reload_failed', { reason: String(err) })
      return
    }
    if (text === null || text === this.active?.text) return
    try {
      const next = await build(JSON.parse(text), text, env, this.options)
      logEvent('config_reloaded', { version: next.version, previous: this.active?.version })
      this.active = next
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [`not valid JSON: ${(err as Error).message}`]
      logEvent('config_reload_rejected', { key: reload.key, problems, keeping: this.active?.version })
    }
  }
}
