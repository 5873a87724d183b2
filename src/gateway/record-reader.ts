/**
 * @module
 * Reads the config record (`config/record.ts`) from the reload KV key, bounded in time. The first
 * line (the header) is read on its own: when the caller already knows that version (it runs it,
 * refused it, or has seen a newer one) the rest of a possibly large value is never fetched.
 */
import { readRecordHeader, type RecordHeader } from '../config/record'
import type { Runtime } from '../core/runtime'

/** How long a read of the record may take before the isolate gives up on it. */
export const READ_TIMEOUT_MS = 1000

export type RecordRead =
  | { kind: 'missing' }
  | { kind: 'failed'; reason: string }
  /** The value is not a record (a config written by hand, a broken header). */
  | { kind: 'unreadable'; problem: string }
  /** A record whose version the caller did not want: only its header was read. */
  | { kind: 'known'; header: RecordHeader }
  /** A record, its body (everything after the header line; undefined without a line break) not parsed yet. */
  | { kind: 'record'; header: RecordHeader; body: string | undefined }

/** Reads the record at `key`; never throws. `wants(header)` says whether to read on past the header. */
export async function readRecord(kv: KVNamespace, key: string, runtime: Runtime, wants: (header: RecordHeader) => boolean): Promise<RecordRead> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  let timer: number | undefined
  const timeout = new Promise<RecordRead>((resolve) => {
    timer = runtime.setTimeout(() => resolve({ kind: 'failed', reason: `no answer from KV within ${READ_TIMEOUT_MS} ms` }), READ_TIMEOUT_MS)
  })
  const read = async (): Promise<RecordRead> => {
    const stream = await kv.get(key, 'stream')
    if (stream === null) return { kind: 'missing' }
    reader = stream.getReader()
    return readLines(reader, wants)
  }
  try {
    return await Promise.race([read(), timeout])
  } catch (err) {
    return { kind: 'failed', reason: String(err) }
  } finally {
    runtime.clearTimeout(timer)
    // After a timeout or a skipped body: stop the transfer. Harmless once the stream is done.
    reader?.cancel().catch(() => {})
  }
}

async function readLines(reader: ReadableStreamDefaultReader<Uint8Array>, wants: (header: RecordHeader) => boolean): Promise<RecordRead> {
  const decoder = new TextDecoder()
  let text = ''
  let header: RecordHeader | undefined
  for (;;) {
    const { done, value } = await reader.read()
    text += done ? decoder.decode() : decoder.decode(value, { stream: true })
    if (!header) {
      const end = text.indexOf('\n')
      if (end < 0 && !done) continue
      const read = readRecordHeader(end < 0 ? text : text.slice(0, end))
      if ('problem' in read) return { kind: 'unreadable', problem: read.problem }
      header = read
      if (!wants(header)) return { kind: 'known', header }
    }
    if (done) break
  }
  const end = text.indexOf('\n')
  return { kind: 'record', header, body: end < 0 ? undefined : text.slice(end + 1) }
}
