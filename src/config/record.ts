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
import { ROUTES_PER_STEP, runSteps, type Steps } from '../core/steps'

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

const NEWLINE = 0x0a
const utf8 = new TextDecoder()

/**
 * The lines of a record's body (everything after its header, as bytes), each decoded as it is
 * reached and given with its line number in the record. Bytes, not text: decoding a 5 MB record
 * at once holds the thread for tens of ms; a line of 200 routes takes well under one.
 */
function* linesOf(body: Uint8Array): Generator<[string, number]> {
  for (let start = 0, n = 2; ; n++) {
    const end = body.indexOf(NEWLINE, start)
    yield [utf8.decode(body.subarray(start, end < 0 ? body.length : end)), n]
    if (end < 0) return
    start = end + 1
  }
}

function parseLine([text, n]: [string, number]): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Error(`record line ${n}: not valid JSON: ${(err as Error).message}`)
  }
}

/** A config's routes, a slice at a time, each with the index it starts at. */
export type RouteSlices = Iterator<[unknown[], number], void>

/**
 * The config a record holds: its config line (without routes), and its routes, a line parsed
 * each time the iteration reaches it, so a reader that validates slice by slice never holds the
 * whole config as written (the parsed objects of a line die young, which keeps the garbage
 * collector's pauses short during a hot reload). `body` is everything after the header line, as
 * bytes (undefined when there is no line break). Throws an `Error` naming the line that is not JSON,
 * or (at the end of the routes) the count that does not match.
 */
export function recordConfig(header: RecordHeader, body: Uint8Array | undefined): { config: object; routes: RouteSlices } {
  if (body === undefined) throw new Error('record: the config line is missing')
  const lines = linesOf(body)
  const config = parseLine(lines.next().value as [string, number])
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error('record line 2: the config must be a JSON object')
  return { config, routes: routeSlices(header, lines) }
}

function* routeSlices(header: RecordHeader, lines: Generator<[string, number]>): Generator<[unknown[], number], void> {
  let count = 0
  for (const line of lines) {
    const routes = parseLine(line)
    if (!Array.isArray(routes)) throw new Error(`record line ${line[1]}: expected an array of routes`)
    for (let start = 0; start < routes.length; start += ROUTES_PER_STEP) yield [routes.slice(start, start + ROUTES_PER_STEP), count + start]
    count += routes.length
  }
  if (count !== header.routes) throw new Error(`record: the header says ${header.routes} routes, the lines hold ${count} (cut off?)`)
}

/** The whole config a record holds, assembled a slice at a time (see `recordConfig`). */
export function* configOfRecord(header: RecordHeader, body: Uint8Array | undefined): Steps<unknown> {
  const { config, routes } = recordConfig(header, body)
  const all: unknown[] = []
  for (let next = routes.next(); !next.done; next = routes.next()) {
    all.push(...next.value[0])
    yield
  }
  return { ...config, routes: all }
}

/** A whole record read at once (scripts, the deploy check): its header and config, or what is wrong with it. */
export function readRecordText(text: string): { header: RecordHeader; config?: unknown } | { problem: string; header?: RecordHeader } {
  const end = text.indexOf('\n')
  const header = readRecordHeader(end < 0 ? text : text.slice(0, end))
  if ('problem' in header) return header
  if (header.deleted) return { header }
  try {
    return { header, config: runSteps(configOfRecord(header, end < 0 ? undefined : new TextEncoder().encode(text.slice(end + 1)))) }
  } catch (err) {
    return { header, problem: (err as Error).message }
  }
}
