/**
 * @module
 * The test kit's origin (`edgeway/testing`, Node side): a controllable HTTP origin for tests and
 * benchmarks, on 127.0.0.1, started by the kit's global setup. Every feature's tests reuse it.
 *
 * Behaviour is chosen per request, by path and query:
 *   /echo/...            200 JSON: method, raw url, path, query, headers, body (text)
 *   /status/<code>       that status, JSON body
 *   /hang                never answers (until the client goes away)
 *   /reset               destroys the connection without answering
 *   /redirect            302 to /echo/redirected on this origin
 *   /stream?chunks=N&interval=MS&stall=K   chunked body; with `stall`, stops after K chunks;
 *                        with `length=1`, declares the full body's Content-Length instead of chunking
 *   /duplex              answers at once and echoes each request chunk as it arrives
 *   /sse                 text/event-stream: sends event 0, then holds the stream open until
 *                        POST /_control/release?tag=T (at most 10 s), then sends event 1 and ends
 *                        (its data: `?last=TEXT`, default {"n":1})
 *   /barrier/<name>?count=N   holds each request until N have arrived at <name>
 *   /ws                  WebSocket echo
 *   /json?value=TEXT     200 with TEXT as the body, typed application/json (valid JSON or not)
 *   /repeat?unit=U&count=N&tail=T   a JSON-typed body: U repeated N times, then T (`[` x 1 MiB);
 *                        with &cut=K it sends K bytes of it and drops the connection (&stall=1: stays silent)
 *   /big?bytes=N         a JSON string body of about N bytes, chunked (no Content-Length); records the
 *                        event `big-done:N` or, when the client went away first, `big-aborted:<bytes sent>`
 *   any path, ?delay=MS  waits before answering; ?status=N sets the status; ?body=... sets the text
 *   any path, ?early-hints=1  a 103 Early Hints before the answer
 *   ?cc=...              sets Cache-Control on the answer
 *   /echo/...?gzip=1     the echo gzip-compressed, with Content-Encoding: gzip and its Content-Length
 *   /signed/...          checks the gateway's X-Edgeway-Signature (secret SIGNING_SECRET, 300 s window,
 *                        replayed request ids refused): 401 { error } when it fails, else like /echo
 *   ?fail-first=N        the tag's first N requests get 503 (after the /signed check): a retry then succeeds
 *   ?set-header=Name:%20value   sets a response header (repeatable)
 *   ?h=Name:Value        sets any response header (repeatable: ETag, Vary, Set-Cookie, Expires, Age, ...)
 *   /bytes?size=N        N bytes of text; with &chunked=1 streamed without Content-Length
 *   ?conditional=1       with an ETag set by ?h=, a request whose If-None-Match is that ETag gets 304
 *   every answer carries `X-Origin-Seq`: how many requests its tag has made so far
 *   /s/<id>/...          as the path without the prefix, logged under tag <id> (no `x-test-tag` needed):
 *                        a base URL of its own for one test's upstream (`testOrigin()` in the kit)
 *
 * Control API (under /_control, also reachable from inside workerd):
 *   GET  /_control/log?tag=T     requests seen with header `x-test-tag: T` (method, url, headers)
 *   GET  /_control/stats?tag=T   { inFlight, maxInFlight, count } for that tag
 *   POST /_control/reset?tag=T   forget that tag's log and stats
 *   GET  /_control/events?tag=T  a tag's stream events (`first-chunk`, `last-chunk`, ...)
 *   POST /_control/hold?tag=T    that tag's next request (any path) waits, after an event `held`, for
 *                                its release (at most 10 s); with &at=B, a `/bytes` answer waits after
 *                                B bytes of its body instead (event `held-body`)
 *   POST /_control/release?tag=T lets that tag's held /sse stream, or held request, go on
 *   PUT  /_control/script?tag=T  body: [{ status?, headers?, body? }, ...]: the tag's requests get these
 *        answers in order, the last one repeating ([]: normal answers again; `./scripted-answers.ts`)
 *   POST /_control/override?tag=T&status=N   from now on, that tag's requests get status N (JSON);
 *        &mode=reset: their connections are destroyed instead; &mode=off: normal answers again
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { WebSocketServer } from 'ws'
import { scriptedAnswers, type ScriptedAnswer } from './scripted-answers.ts'
import { verifyEdgewaySignature } from './verify-signature.ts'

/** The HMAC key `/signed/...` verifies with; tests give the gateway the same Worker secret. */
export const SIGNING_SECRET = 'test-origin-signing-secret'

type Seen = { method: string; url: string; headers: http.IncomingHttpHeaders; at: number }
type Stats = { inFlight: number; maxInFlight: number; count: number }

export type TestOrigin = { port: number; url: string; close(): Promise<void> }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function startOrigin(port = 0): Promise<TestOrigin> {
  const logs = new Map<string, Seen[]>()
  const stats = new Map<string, Stats>()
  const events = new Map<string, string[]>()
  const barriers = new Map<string, { waiting: (() => void)[] }>()
  const seenSignatures = new Map<string, number>()
  const overrides = new Map<string, { status: number; reset: boolean }>()
  const scripts = scriptedAnswers()
  const releases = new Map<string, () => void>()
  /**
   * Tags whose next request waits for `/_control/release` (at most 10 s), before its answer or
   * (a number: `/bytes` only) after that many bytes of its body: a test holds one origin answer
   * while it does something else.
   */
  const holds = new Map<string, number | undefined>()
  /** Resolves when `/_control/release?tag=` is called for `tag`, or after 10 s (a test that never releases still ends). */
  const releaseOf = (tag: string) =>
    new Promise<void>((resolve) => {
      releases.set(tag, resolve)
      setTimeout(resolve, 10_000)
    })

  const statsFor = (tag: string) => {
    let s = stats.get(tag)
    if (!s) stats.set(tag, (s = { inFlight: 0, maxInFlight: 0, count: 0 }))
    return s
  }
  const event = (tag: string, name: string) => {
    const list = events.get(tag) ?? []
    list.push(name)
    events.set(tag, list)
  }

  const readBody = (req: http.IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      req.on('error', reject)
    })

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }

  const control = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => {
    const tag = url.searchParams.get('tag') ?? ''
    if (url.pathname === '/_control/log') return json(res, 200, logs.get(tag) ?? [])
    if (url.pathname === '/_control/stats') return json(res, 200, stats.get(tag) ?? { inFlight: 0, maxInFlight: 0, count: 0 })
    if (url.pathname === '/_control/events') return json(res, 200, events.get(tag) ?? [])
    if (url.pathname === '/_control/release' && req.method === 'POST') {
      releases.get(tag)?.()
      releases.delete(tag)
      return json(res, 200, { ok: true })
    }
    if (url.pathname === '/_control/hold' && req.method === 'POST') {
      holds.set(tag, url.searchParams.has('at') ? Number(url.searchParams.get('at')) : undefined)
      return json(res, 200, { ok: true })
    }
    if (url.pathname === '/_control/script' && req.method === 'PUT') {
      return readBody(req).then((text) => {
        scripts.set(tag, JSON.parse(text || '[]') as ScriptedAnswer[])
        json(res, 200, { ok: true })
      })
    }
    if (url.pathname === '/_control/override' && req.method === 'POST') {
      const mode = url.searchParams.get('mode')
      if (mode === 'off') overrides.delete(tag)
      else overrides.set(tag, { status: Number(url.searchParams.get('status') ?? 500), reset: mode === 'reset' })
      return json(res, 200, { ok: true })
    }
    if (url.pathname === '/_control/reset' && req.method === 'POST') {
      overrides.delete(tag)
      scripts.delete(tag)
      logs.delete(tag)
      stats.delete(tag)
      events.delete(tag)
      return json(res, 200, { ok: true })
    }
    return json(res, 404, { error: 'unknown control endpoint' })
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin.test')
    if (url.pathname.startsWith('/_control/')) return control(req, res, url)
    // A test's own base URL: `/s/<id>` names the tag, and the rest is the path.
    const scoped = /^\/s\/([A-Za-z0-9_-]{1,64})(\/.*)?$/.exec(url.pathname)
    if (scoped) url.pathname = scoped[2] ?? '/'
    const tag = scoped ? scoped[1]! : String(req.headers['x-test-tag'] ?? '')
    const list = logs.get(tag) ?? []
    list.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: Date.now() })
    logs.set(tag, list)
    const s = statsFor(tag)
    s.count++
    s.inFlight++
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight)
    let done = false
    const finish = () => {
      if (!done) s.inFlight--
      done = true
    }
    res.on('close', finish)

    // A hold without `at` is taken by the tag's next request, whatever its path.
    if (holds.has(tag) && holds.get(tag) === undefined) {
      holds.delete(tag)
      event(tag, 'held')
      await releaseOf(tag)
    }
    const delay = Number(url.searchParams.get('delay') ?? 0)
    if (delay > 0) await sleep(Math.min(delay, 30_000))
    const cc = url.searchParams.get('cc')
    const extra: http.OutgoingHttpHeaders = cc ? { 'cache-control': cc } : {}
    for (const header of url.searchParams.getAll('set-header')) {
      const colon = header.indexOf(':')
      if (colon > 0) extra[header.slice(0, colon).trim()] = header.slice(colon + 1).trim()
    }
    for (const pair of url.searchParams.getAll('h')) {
      const colon = pair.indexOf(':')
      if (colon <= 0) continue
      const name = pair.slice(0, colon).trim().toLowerCase()
      const value = pair.slice(colon + 1).trim()
      const seen = extra[name]
      extra[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [String(seen)]), value]
    }
    res.setHeader('x-origin-seq', String(s.count))
    // An interim answer before the real one (workerd hands it over as final: src/upstream/interim.ts).
    if (url.searchParams.get('early-hints') === '1') res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' })
    const path = url.pathname
    const override = overrides.get(tag)
    if (override?.reset) return req.socket.destroy()
    if (override) return json(res, override.status, { status: override.status, overridden: true })
    if (scripts.answer(tag, res, extra)) return
    if (url.searchParams.get('conditional') === '1' && extra.etag !== undefined && req.headers['if-none-match'] === String(extra.etag)) {
      res.writeHead(304, extra)
      return res.end()
    }
    if (path === '/bytes') {
      const size = Math.min(Number(url.searchParams.get('size') ?? 0), 64 * 1024 * 1024)
      const chunked = url.searchParams.get('chunked') === '1'
      // A hold with `at=B` (`/_control/hold`): after B bytes, an event `held-body` and a wait for the tag's release.
      const holdAt = holds.get(tag)
      holds.delete(tag)
      res.writeHead(200, { 'content-type': 'text/plain', ...(chunked ? {} : { 'content-length': String(size) }), ...extra })
      for (let sent = 0; sent < size; sent += 16_384) {
        if (holdAt !== undefined && sent >= holdAt && sent - 16_384 < holdAt) {
          event(tag, 'held-body')
          await releaseOf(tag)
          if (res.destroyed) return
        }
        res.write('x'.repeat(Math.min(16_384, size - sent)))
      }
      return res.end()
    }

    if (path === '/hang') return
    if (path === '/reset') return req.socket.destroy()
    if (path === '/redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo/redirected` })
      return res.end()
    }
    if (path.startsWith('/status/')) {
      const code = Number(path.slice('/status/'.length)) || 500
      return json(res, code, { status: code }, extra)
    }
    if (path === '/stream') {
      const chunks = Math.min(Number(url.searchParams.get('chunks') ?? 3), 1000)
      const interval = Number(url.searchParams.get('interval') ?? 10)
      const stall = url.searchParams.get('stall')
      const declared: http.OutgoingHttpHeaders = {}
      if (url.searchParams.get('length') === '1') {
        let total = 0
        for (let i = 0; i < chunks; i++) total += `chunk-${i}\n`.length
        declared['content-length'] = total
      }
      res.writeHead(200, { 'content-type': 'text/plain', ...extra, ...declared })
      for (let i = 0; i < chunks; i++) {
        if (stall !== null && i >= Number(stall)) return // leave the response open, silent
        if (res.destroyed) return
        res.write(`chunk-${i}\n`)
        event(tag, `sent-${i}`)
        await sleep(interval)
      }
      event(tag, 'sent-last')
      return res.end()
    }
    if (path === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      res.write('id: 0\nevent: tick\ndata: {"n":0}\n\n')
      event(tag, 'sse-sent-0')
      await releaseOf(tag)
      if (res.destroyed) return
      res.write(`id: 1\nevent: tick\ndata: ${url.searchParams.get('last') ?? '{"n":1}'}\n\n`)
      event(tag, 'sse-end')
      return res.end()
    }
    if (path === '/duplex') {
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.flushHeaders()
      let first = true
      req.on('data', (chunk: Buffer) => {
        if (first) event(tag, 'received-first')
        first = false
        res.write(chunk)
      })
      req.on('end', () => {
        event(tag, 'received-end')
        res.end()
      })
      return
    }
    if (path.startsWith('/barrier/')) {
      const name = `${tag}:${path.slice('/barrier/'.length)}`
      const count = Number(url.searchParams.get('count') ?? 2)
      const barrier = barriers.get(name) ?? { waiting: [] }
      barriers.set(name, barrier)
      await new Promise<void>((resolve) => {
        barrier.waiting.push(resolve)
        if (barrier.waiting.length >= count) {
          barriers.delete(name)
          barrier.waiting.forEach((release) => release())
        }
      })
      return json(res, 200, { barrier: path.slice('/barrier/'.length), released: count }, extra)
    }
    if (path.startsWith('/signed/')) {
      const header = req.headers['x-edgeway-signature']
      const verdict = verifyEdgewaySignature(Array.isArray(header) ? header[0] : header, req.method ?? '', req.url ?? '', SIGNING_SECRET, seenSignatures)
      if (!verdict.ok) return json(res, 401, { error: verdict.reason })
    }
    const failFirst = Number(url.searchParams.get('fail-first') ?? 0)
    if (s.count <= failFirst) return json(res, 503, { status: 503, failFirst }, extra)
    if (path === '/json') {
      res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'content-type': 'application/json', ...extra })
      return res.end(url.searchParams.get('value') ?? 'null')
    }
    if (path === '/repeat') {
      // A JSON body of `unit` repeated `count` times, then `tail`: deep nesting (`[` x 1 MiB) without
      // a URL that long. `cut=N`: declares the whole length, sends N bytes, then drops the
      // connection (with `stall=1`, keeps it open and silent instead).
      const text = (url.searchParams.get('unit') ?? ' ').repeat(Math.min(Number(url.searchParams.get('count') ?? 1), 32 * 1024 * 1024)) + (url.searchParams.get('tail') ?? '')
      const cut = url.searchParams.get('cut')
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra })
      if (cut === null) return res.end(text)
      res.write(text.slice(0, Number(cut)))
      event(tag, 'repeat-cut')
      if (url.searchParams.get('stall') !== '1') setTimeout(() => req.socket.destroy(), 20)
      return
    }
    if (path === '/big') {
      const bytes = Math.min(Number(url.searchParams.get('bytes') ?? 1024), 64 * 1024 * 1024)
      res.writeHead(200, { 'content-type': 'application/json', ...extra })
      res.write('"')
      const chunk = 'x'.repeat(16 * 1024)
      let sent = 2
      for (; sent < bytes && !res.destroyed; sent += chunk.length) {
        if (res.write(chunk.slice(0, Math.min(chunk.length, bytes - sent)))) continue
        // A client that stops reading closes the response: never wait for a drain that won't come.
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done)
            res.off('close', done)
            resolve()
          }
          res.on('drain', done)
          res.on('close', done)
        })
      }
      // How far it got: a reader that gives up at a cap leaves `big-aborted` well short of `bytes`.
      event(tag, `big-${res.destroyed ? 'aborted' : 'done'}:${Math.min(sent, bytes)}`)
      return res.end('"')
    }
    const body = await readBody(req)
    const status = Number(url.searchParams.get('status') ?? 200)
    const text = url.searchParams.get('body')
    if (text !== null) {
      res.writeHead(status, { 'content-type': 'text/plain', ...extra })
      // A lone interim status is a broken origin: it hangs up instead of ever answering.
      if (status < 200) return res.end(text, () => req.socket.end())
      return res.end(text)
    }
    const echo = { method: req.method, url: req.url, path, query: Object.fromEntries(url.searchParams), headers: req.headers, body }
    if (url.searchParams.get('gzip') === '1') {
      const zipped = gzipSync(JSON.stringify(echo))
      res.writeHead(status, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': zipped.length, ...extra })
      return res.end(zipped)
    }
    return json(res, status, echo, extra)
  })

  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith('/ws')) return socket.destroy()
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${data.toString()}`))
    })
  })

  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const actual = (server.address() as AddressInfo).port
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
