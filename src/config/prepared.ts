/**
 * @module
 * A bundled config made ready at build time (issue 16): `npm run build`, `npm run deploy` and the
 * bench bundle the config parsed, validated and defaulted in Node by this same code, in an
 * envelope the worker recognises, so a cold isolate skips the validator for it (and the hash of its
 * text). A config read from KV (`gateway.reload`) is always validated in the worker.
 *
 * The envelope is only ever written by `prepareConfig` from the checkout being bundled (the build
 * scripts write it beside the bundle's entry, never into `config/`), so config and code can't drift.
 */
import { sha256Hex, toHex } from '../core/encoding'
import { parseConfig } from './parse'
import type { GatewayConfig } from './schema'

export const PREPARED_MARK = 'edgeway-prepared-config'

export type PreparedConfig = {
  kind: typeof PREPARED_MARK
  /** As `GatewayHost` names a config: the first 16 hex digits of the SHA-256 of its JSON text. */
  version: string
  /** Parsed: every default filled in. */
  config: GatewayConfig
  /** As written (shown redacted by the admin API). */
  source: unknown
}

export function isPreparedConfig(value: unknown): value is PreparedConfig {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === PREPARED_MARK
}

/** A config's version: the first 16 hex digits of the SHA-256 of its JSON text (or of a record's body, its bytes). */
export async function configVersion(text: string | Uint8Array): Promise<string> {
  if (typeof text === 'string') return sha256Hex(text, 8)
  // A record's body, as bytes: the same value as its text's for valid UTF-8.
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', text)).slice(0, 8))
}

/** The envelope for `source`, or the problems that refuse it (each `path: reason`). */
export async function prepareConfig(source: unknown): Promise<{ ok: true; prepared: PreparedConfig } | { ok: false; problems: string[] }> {
  const parsed = parseConfig(source)
  if (!parsed.ok) return { ok: false, problems: parsed.problems }
  return { ok: true, prepared: { kind: PREPARED_MARK, version: await configVersion(JSON.stringify(source)), config: parsed.config, source } }
}
