/**
 * @module
 * Reads the config record (`config/record.ts`) from the reload KV key, bounded in time. The first
 * line (the header) is read on its own: when the caller already knows that version (it runs it,
 * refused it, or has seen a newer one) the rest of a possibly large value is never fetched.
 */
import { readRecordHeader, type RecordHeader } from '../config/record'
import { concatChunks } from '../core/body'
import { nextTurn, type Runtime } from '../core/runtime'

/** How long a read of the record may take before the isolate gives up on it. */
export const READ_TIMEOUT_MS = 1000

export type RecordRead =
  | { kind: 'missing' }
  | { kind: 'failed'; reason: string }
  /** The value is not a record (a config written by hand, a broken header). */
  | { kind: 'unreadable'; problem: string }
  /** A record whose version the caller did not want: only its header was read. */
  | { kind: 'known'; header: RecordHeader }
  /** A record, its body (the bytes after the header line; undefined without a line break) not parsed yet. */
  | { kind: 'record'; header: RecordHeader; body: Uint8Array | undefined }

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

const NEWLINE = 0x0a
/** Chunks read between two turns given to requests: the KV stream's chunks are 4 KB. */
const CHUNKS_PER_TURN = 64

/**
 * Reads the header line, then (for a version the caller wants) the rest, kept as bytes: decoding
 * it all is left to the slices that parse it a line at a time (`recordConfig`). Once a record's
 * chunks are all at hand every read resolves at once, so without a turn every few the loop over
 * a 5 MB record (1,200 chunks) would hold the thread for tens of ms.
 */
async function readLines(reader: ReadableStreamDefaultReader<Uint8Array>, wants: (header: RecordHeader) => boolean): Promise<RecordRead> {
  const chunks: Uint8Array[] = []
  let length = 0
  let header: RecordHeader | undefined
  for (let done = false, newline = -1; !done; ) {
    const chunk = await reader.read()
    done = chunk.done
    if (chunk.value) {
      if (newline < 0) {
        const at = chunk.value.indexOf(NEWLINE)
        if (at >= 0) newline = length + at
      }
      chunks.push(chunk.value)
      length += chunk.value.byteLength
    }
    if (!header && (newline >= 0 || done)) {
      const head = concat(chunks, length)
      const read = readRecordHeader(new TextDecoder().decode(newline < 0 ? head : head.subarray(0, newline)))
      if ('problem' in read) return { kind: 'unreadable', problem: read.problem }
      header = read
      if (!wants(header)) return { kind: 'known', header }
      if (newline < 0) return { kind: 'record', header, body: undefined }
      chunks.splice(0, chunks.length, head.subarray(newline + 1))
      length -= newline + 1
    }
    if (chunks.length % CHUNKS_PER_TURN === 0) await nextTurn()
  }
  return { kind: 'record', header: header!, body: concat(chunks, length) }
}

/** The chunks as one array (the one chunk itself when there is only one). */
const concat = (chunks: Uint8Array[], length: number): Uint8Array => (chunks.length === 1 ? chunks[0]! : concatChunks(chunks, length))
