/**
 * @module
 * The final response behind an interim one. workerd's HTTP client (locally, `wrangler dev` and the
 * test pool) hands a `103 Early Hints` (or any 1xx but 101) over as if it were final, and the rest
 * of the connection, the real response's head and body, arrives as its body: a body that ends
 * only when the origin closes the connection. This reads that head (bounded), and gives the final
 * response with its body framed by its own `Content-Length` or chunked coding (the connection's
 * remainder is then cancelled, never waited for). Anything it can't read with certainty (no
 * `HTTP/1.x` head, an invalid header, a length-less body, a transfer coding other than chunked, a
 * `Content-Encoding`: the bytes are raw) is undefined: the caller answers 502.
 */
import { concatChunks } from '../core/body'
import { HOP_BY_HOP_HEADERS } from '../core/http'

/** The most a head (and the interim ones before it) may take before the final status. */
const MAX_HEAD_BYTES = 64 * 1024
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const STATUS_LINE = /^HTTP\/1\.[01] ([1-5]\d\d)(?: ([^\r\n]*))?$/
const PREFIX = 'HTTP/1.'

type Head = { status: number; statusText: string; headers: Headers }

function parseHead(text: string): Head | undefined {
  const [statusLine = '', ...lines] = text.split('\r\n')
  const status = STATUS_LINE.exec(statusLine)
  if (!status) return undefined
  const headers = new Headers()
  for (const line of lines) {
    const colon = line.indexOf(':')
    // No obsolete line folding, no whitespace before the colon (RFC 9112 section 5).
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return undefined
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim())
    } catch {
      return undefined
    }
  }
  return { status: Number(status[1]), statusText: status[2] ?? '', headers }
}

/** Where the head ends (after its blank line), or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) return i + 1
  }
  return -1
}

const latin1 = (bytes: Uint8Array) => String.fromCharCode(...bytes)

/** The final response in an interim response's body, or undefined when it can't be read with certainty. */
export async function finalAfterInterim(interim: Response, method: string): Promise<Response | undefined> {
  if (!interim.body) return undefined
  const reader = interim.body.getReader()
  const give = (response: Response | undefined) => {
    if (!response) reader.cancel().catch(() => {})
    return response
  }
  let buffered: Uint8Array = new Uint8Array(0)
  for (;;) {
    const end = headEnd(buffered)
    if (end < 0) {
      // Refuse at once what can't be a status line: the body of a plain 1xx from a broken origin.
      const start = latin1(buffered.subarray(0, PREFIX.length))
      if (!PREFIX.startsWith(start) || buffered.length > MAX_HEAD_BYTES) return give(undefined)
      const { done, value } = await reader.read()
      if (done) return give(undefined)
      buffered = concatChunks([buffered, value], buffered.length + value.byteLength)
      continue
    }
    const head = parseHead(latin1(buffered.subarray(0, end - 4)))
    buffered = buffered.subarray(end)
    if (!head || head.status === 101) return give(undefined)
    // Another interim response (a 100 before the 103, say): the final one follows it.
    if (head.status < 200) continue
    return give(framed(head, buffered, reader, method))
  }
}

/** The final response with the body its framing gives: chunked, `Content-Length`, none for HEAD, 204, 304. */
function framed(head: Head, buffered: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>, method: string): Response | undefined {
  const { status, statusText, headers } = head
  const encoding = headers.get('content-encoding')
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return undefined
  const transfer = headers.get('transfer-encoding')
  if (transfer !== null && transfer.trim().toLowerCase() !== 'chunked') return undefined
  // With Transfer-Encoding, Content-Length means nothing (RFC 9112 section 6.3).
  if (transfer !== null) headers.delete('content-length')
  const lengths = [...new Set((headers.get('content-length') ?? '').split(',').map((v) => v.trim()).filter(Boolean))]
  if (lengths.length > 1 || (lengths.length === 1 && !/^\d+$/.test(lengths[0]!))) return undefined
  for (const name of HOP_BY_HOP_HEADERS) headers.delete(name)
  if (method === 'HEAD' || status === 204 || status === 304 || lengths[0] === '0') {
    reader.cancel().catch(() => {})
    return new Response(null, { status, statusText, headers })
  }
  if (transfer !== null) return new Response(chunkedBody(buffered, reader), { status, statusText, headers })
  // Without a length the body would run to the connection's end: never certain, never used.
  if (lengths.length === 0) return undefined
  const length = Number(lengths[0])
  return new Response(lengthBody(buffered, reader, length).pipeThrough(new FixedLengthStream(length)), { status, statusText, headers })
}

const truncated = () => new Error('the origin closed the connection inside the body')

/** Exactly `length` bytes: what was read past the head, then the connection, which is cancelled after. */
function lengthBody(buffered: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>, length: number): ReadableStream<Uint8Array> {
  let left = length
  let first: Uint8Array | undefined = buffered.subarray(0, left)
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk = first
      first = undefined
      if (!chunk?.byteLength) {
        const { done, value } = await reader.read()
        if (done) return controller.error(truncated())
        chunk = value.subarray(0, left)
      }
      left -= chunk.byteLength
      controller.enqueue(chunk)
      if (left === 0) {
        controller.close()
        reader.cancel().catch(() => {})
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

/** A chunked body decoded (RFC 9112 section 7.1), in bounded memory; trailers are dropped. */
function chunkedBody(buffered: Uint8Array, reader: ReadableStreamDefaultReader<Uint8Array>): ReadableStream<Uint8Array> {
  let pending = buffered
  /** Bytes left in the chunk being read. */
  let left = 0
  const more = async () => {
    const { done, value } = await reader.read()
    if (done) throw truncated()
    pending = concatChunks([pending, value], pending.length + value.byteLength)
  }
  const line = async (): Promise<string> => {
    for (;;) {
      const end = pending.findIndex((byte, i) => byte === 10 && pending[i - 1] === 13)
      if (end > 0) {
        const text = latin1(pending.subarray(0, end - 1))
        pending = pending.subarray(end + 1)
        return text
      }
      if (pending.length > MAX_HEAD_BYTES) throw new Error('a chunk size or trailer line too long')
      await more()
    }
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (left === 0) {
          const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(await line())
          if (!size) throw new Error('an invalid chunk size')
          left = parseInt(size[1]!, 16)
          if (left === 0) {
            while ((await line()) !== '');
            controller.close()
            reader.cancel().catch(() => {})
            return
          }
        }
        if (pending.length === 0) await more()
        const take = pending.subarray(0, left)
        pending = pending.subarray(take.length)
        left -= take.length
        controller.enqueue(take.slice())
        if (left === 0 && (await line()) !== '') throw new Error('a chunk longer than its size')
      } catch (err) {
        controller.error(err)
        reader.cancel().catch(() => {})
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
}
