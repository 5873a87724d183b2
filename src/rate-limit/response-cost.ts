/**
 * @module
 * What a response says it cost, for the `rate-limit` policy's `costHeader` and `costPath`. A header
 * is read at once. A JSON path is read from a tee of the body: the client gets the other branch as
 * the origin sends it, never buffered or delayed by the reading, and the reading settles when its
 * branch has been read (the policy charges then, in `waitUntil`).
 *
 * Bounded: only a JSON body (`application/json`, `+json`) or a server-sent event stream
 * (`text/event-stream`) is read; a JSON body over `maxBytes` is not read (its branch is cancelled
 * at the cap), nor one nested deeper than `MAX_BODY_DEPTH`. In a stream the cost is the value at
 * the path in the last `data:` event that has one (an OpenAI stream's final `usage` chunk; `[DONE]`
 * and other events are skipped); the reader holds one event at a time, at most `maxBytes` of it.
 */
import { isJsonType, readUpTo } from '../core/body'
import { MAX_BODY_DEPTH, textTooDeep } from '../core/json-depth'
import { getPath, type ParsedPath } from '../template/path'

/** The most a response may say it cost: beyond it (or not a whole number) the cost is unread. */
export const MAX_RESPONSE_COST = 1_000_000_000

/** A cost the response reported, or why none could be read (for the log). */
export type CostReading = { cost: number } | { unread: string }

/** A whole number from 0 to MAX_RESPONSE_COST, as a header's text or a JSON value. */
function wholeCost(value: unknown): number | undefined {
  const n = typeof value === 'string' ? (/^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : NaN) : value
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_RESPONSE_COST ? n : undefined
}

export function costFromHeader(headers: Headers, name: string): CostReading {
  const text = headers.get(name)
  if (text === null) return { unread: `no ${name} header` }
  const cost = wholeCost(text)
  return cost === undefined ? { unread: `${name} is not a whole number up to ${MAX_RESPONSE_COST}` } : { cost }
}

/** The cost at `path` in one JSON text, or why there is none. */
function costInJson(text: string, path: ParsedPath): CostReading {
  if (textTooDeep(text, MAX_BODY_DEPTH)) return { unread: `nested deeper than ${MAX_BODY_DEPTH} levels` }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { unread: 'not valid JSON' }
  }
  const cost = wholeCost(getPath(value, path))
  return cost === undefined ? { unread: `no whole number at ${path.source}` } : { cost }
}

/**
 * The response for the client (a branch of a tee of `res`'s body, or `res` itself when its body is
 * not read) and the reading of the cost at `path`, which settles once the other branch is read.
 */
export function teeBodyCost(res: Response, path: ParsedPath, maxBytes: number): { response: Response; reading: Promise<CostReading> } {
  const type = res.headers.get('content-type')
  const stream = type?.split(';', 1)[0]!.trim().toLowerCase() === 'text/event-stream'
  if (res.body === null) return { response: res, reading: Promise.resolve({ unread: 'no body' }) }
  if (!stream && !isJsonType(type)) return { response: res, reading: Promise.resolve({ unread: `not JSON (${type ?? 'no Content-Type'})` }) }
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (!stream && declared > maxBytes) return { response: res, reading: Promise.resolve({ unread: `body over ${maxBytes} bytes` }) }
  const [client, own] = res.body.tee()
  const reading = stream ? lastEventCost(own, path, maxBytes) : jsonBodyCost(own, path, maxBytes)
  return { response: new Response(client, res), reading: reading.catch((err: unknown) => ({ unread: `body failed: ${String((err as Error)?.message ?? err)}` })) }
}

async function jsonBodyCost(body: ReadableStream<Uint8Array>, path: ParsedPath, maxBytes: number): Promise<CostReading> {
  const bytes = await readUpTo(body, maxBytes)
  if (bytes === undefined) return { unread: `body over ${maxBytes} bytes` }
  return costInJson(new TextDecoder().decode(bytes), path)
}

/**
 * Reads an event stream to its end, keeping the cost of the last `data:` event that carries one.
 * Only an event whose data names the path's last key is parsed, so a long stream of token chunks
 * costs a line scan each, not a JSON parse. An event over `maxBytes` is skipped.
 */
async function lastEventCost(body: ReadableStream<Uint8Array>, path: ParsedPath, maxBytes: number): Promise<CostReading> {
  const lastKey = [...path.steps].reverse().find((step) => step.kind === 'key')
  const marker = lastKey?.kind === 'key' ? `"${lastKey.name}"` : undefined
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let pending = ''
  let data: string[] = []
  let size = 0
  let oversized = false
  let last: CostReading = { unread: `no event carried ${path.source}` }
  const dispatch = () => {
    const text = data.join('\n')
    if (!oversized && data.length > 0 && (marker === undefined || text.includes(marker))) {
      const reading = costInJson(text, path)
      if ('cost' in reading) last = reading
    }
    data = []
    size = 0
    oversized = false
  }
  const line = (text: string) => {
    if (text === '') return dispatch()
    if (!text.startsWith('data:') || oversized) return
    size += text.length
    if (size > maxBytes) {
      oversized = true
      data = []
      return
    }
    data.push(text.slice(text[5] === ' ' ? 6 : 5))
  }
  // Bounded: each pass consumes a chunk of the stream; `pending` never holds more than one line under the cap.
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    pending += value
    let at: number
    while ((at = pending.search(/\r\n|\r|\n/)) >= 0) {
      // A `\r` that ends the chunk may be half of a `\r\n`: wait for the next chunk.
      if (at === pending.length - 1 && pending[at] === '\r') break
      line(pending.slice(0, at))
      pending = pending.slice(at + (pending.startsWith('\r\n', at) ? 2 : 1))
    }
    if (pending.length > maxBytes) {
      // A line longer than the cap: its event is skipped; drop what is held, keep skipping to its end.
      oversized = true
      data = []
      pending = ''
    }
  }
  if (pending !== '') line(pending)
  dispatch()
  return last
}
