/**
 * @module
 * The config record: what `npm run reload` (scripts/reload.mjs, the one writer) stores in the
 * reload KV key, and what every isolate reads. Isolates never write it.
 *
 * KV has no compare-and-swap and its reads are eventually consistent (about 60 s), so each record
 * carries a version the writer assigns, one more than the stored one: an isolate never runs a
 * version lower than one it has seen, and remembers the versions it refused.
 *
 * The text is lines of JSON, so a reader can act on the first line alone and a large config is
 * parsed a line at a time (one `JSON.parse` of a 4 MB config holds the thread for ~60 ms):
 *
 *   {"edgeway":"config-record","version":7,"writtenAt":"2026-12-04T21:30:00.000Z","routes":26619}
 *   {...the config without its routes...}
 *   [...up to ROUTES_PER_LINE routes...]          as many lines as it takes
 *
 * A deletion is a record too, one line with `"deleted":true` and the next version: every isolate
 * then runs its bundled config, and says so in the log. Nothing ever depends on the key vanishing.
 */
import { runSteps, type Steps } from '../core/steps'

export const RECORD_KIND = 'config-record'
/** Routes per line of a record. */
export const ROUTES_PER_LINE = 200

export type RecordHeader = {
  version: number
  /** When the writer wrote it (ISO 8601), for the log. */
  writtenAt: string
  /** Routes in the config, so a cut-off record is refused rather than run short. */
  routes?: number
  deleted?: true
}

/** The record's first line, or the reason it is not one. */
export function readRecordHeader(line: string): RecordHeader | { problem: string } {
  let header: unknown
  try {
    header = JSON.parse(line)
  } catch {
    header = undefined
  }
  const h = header as Partial<RecordHeader> & { edgeway?: unknown }
  if (!h || typeof h !== 'object' || h.edgeway !== RECORD_KIND) {
    return { problem: 'not a config record: write configs with `npm run reload -- <file> --env <env>`, which validates them and assigns their version' }
  }
  if (!Number.isSafeInteger(h.version) || h.version! < 1) return { problem: 'record header: version must be a whole number of at least 1' }
  if (typeof h.writtenAt !== 'string') return { problem: 'record header: writtenAt must be a string' }
  if (h.deleted !== undefined && h.deleted !== true) return { problem: 'record header: deleted must be true when present' }
  if (!h.deleted && (!Number.isSafeInteger(h.routes) || h.routes! < 0)) return { problem: 'record header: routes must be a whole number' }
  return { version: h.version!, writtenAt: h.writtenAt, ...(h.deleted ? { deleted: true } : { routes: h.routes! }) }
}

/** The record text for a config (as written, not yet validated) or a deletion. */
export function formatRecord(version: number, writtenAt: string, config: { routes?: unknown[] } | 'deleted'): string {
  if (config === 'deleted') return JSON.stringify({ edgeway: RECORD_KIND, version, writtenAt, deleted: true })
  const { routes = [], ...rest } = config
  const lines = [JSON.stringify({ edgeway: RECORD_KIND, version, writtenAt, routes: routes.length }), JSON.stringify(rest)]
  for (let start = 0; start < routes.length; start += ROUTES_PER_LINE) lines.push(JSON.stringify(routes.slice(start, start + ROUTES_PER_LINE)))
  return lines.join('\n')
}

/** The version the next record gets: one more than the stored record's (1 when there is none). */
export function nextVersion(stored: string | null): number {
  if (stored === null) return 1
  const end = stored.indexOf('\n')
  const header = readRecordHeader(end < 0 ? stored : stored.slice(0, end))
  if ('problem' in header) throw new Error(`the stored value is ${header.problem}; replace it with --version <n> above every version isolates have run`)
  return header.version + 1
}

/**
 * The config a record holds (everything after its header line), assembled a line at a time.
 * Throws an `Error` naming the line that is not JSON, or the count that does not match.
 */
export function* configOfRecord(header: RecordHeader, lines: string[]): Steps<unknown> {
  const parse = (n: number): unknown => {
    try {
      return JSON.parse(lines[n]!)
    } catch (err) {
      throw new Error(`record line ${n + 2}: not valid JSON: ${(err as Error).message}`)
    }
  }
  if (lines.length === 0) throw new Error('record: the config line is missing')
  const config = parse(0)
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error('record line 2: the config must be a JSON object')
  const routes: unknown[] = []
  for (let n = 1; n < lines.length; n++) {
    const slice = parse(n)
    if (!Array.isArray(slice)) throw new Error(`record line ${n + 2}: expected an array of routes`)
    routes.push(...slice)
    yield
  }
  if (routes.length !== header.routes) throw new Error(`record: the header says ${header.routes} routes, the lines hold ${routes.length} (cut off?)`)
  return { ...config, routes }
}

/** A whole record read at once (scripts, the deploy check): its header and config, or what is wrong with it. */
export function readRecordText(text: string): { header: RecordHeader; config?: unknown } | { problem: string; header?: RecordHeader } {
  const end = text.indexOf('\n')
  const header = readRecordHeader(end < 0 ? text : text.slice(0, end))
  if ('problem' in header) return header
  if (header.deleted) return { header }
  try {
    return { header, config: runSteps(configOfRecord(header, end < 0 ? [] : text.slice(end + 1).split('\n'))) }
  } catch (err) {
    return { header, problem: (err as Error).message }
  }
}
