/** What the GatewayHost tests share: a call through the host, a one-route config, the operator events, and the record writer. */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env as poolEnv } from 'cloudflare:workers'
import { vi } from 'vitest'
import { formatRecord, nextVersion } from '../../src/config/record'
import type { GatewayConfigInput } from '../../src/config/schema'
import type { Env } from '../../src/core/env'
import type { GatewayHost } from '../../src/gateway/host'

export const env = poolEnv as unknown as Env & typeof poolEnv

export async function call(host: GatewayHost, path: string, init: RequestInit = {}, hostEnv: Env = env): Promise<Response> {
  const ctx = createExecutionContext()
  const res = await host.fetch(new Request(`http://gw.test${path}`, init), hostEnv, ctx)
  await waitOnExecutionContext(ctx)
  return res
}

/** A config with one route, `/says`, answering `word`. */
export const says = (word: string, extra: Partial<GatewayConfigInput> = {}): GatewayConfigInput => ({
  ...extra,
  routes: [{ id: 'says', match: { path: '/says' }, action: { type: 'respond', body: word } }],
})

export type LoggedEvent = Record<string, unknown> & { event: string; level: 'error' | 'info' }

/**
 * Captures the operator events: problems go to console.error, the rest (a config reloaded) to
 * console.log, beside the request log lines (which have no `event`).
 */
export function captureEvents(): () => LoggedEvent[] {
  const lines: LoggedEvent[] = []
  const capture = (level: LoggedEvent['level']) => (line: unknown) => {
    const parsed = JSON.parse(String(line)) as Record<string, unknown>
    if (typeof parsed.event === 'string') lines.push({ ...parsed, level } as LoggedEvent)
  }
  vi.spyOn(console, 'error').mockImplementation(capture('error'))
  vi.spyOn(console, 'log').mockImplementation(capture('info'))
  // Without the level: most tests compare the fields.
  return () => lines.map(({ level: _, ...fields }) => fields as LoggedEvent)
}

/** Writes a config record the way `npm run reload` does: the stored version plus one (or `version`). */
export async function writeRecord(key: string, config: GatewayConfigInput | 'deleted', version?: number): Promise<number> {
  const kv = env.CONFIG_KV
  const next = version ?? nextVersion(await kv.get(key))
  await kv.put(key, formatRecord(next, WRITTEN_AT, config as { routes?: unknown[] } | 'deleted'))
  return next
}

export const WRITTEN_AT = '2026-12-04T21:30:00.000Z'
