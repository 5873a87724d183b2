// A stand-in for Cloudflare's cache, speaking the protocol workerd uses for `cacheApiOutbound`:
//   GET   <key url>  -> the stored response with `CF-Cache-Status: HIT`, or `CF-Cache-Status: MISS`
//   PUT   <key url>  -> body is the serialised response (status line, headers, body); 204 or 413
//   PURGE <key url>  -> 200 when something was deleted, 404 when not
// (miniflare's cache worker speaks the same protocol; `Cf-Cache-Namespace` names a `caches.open` cache.)
// Freshness is only `s-maxage`/`max-age`; anything private, no-store, no-cache or with Set-Cookie
// is refused, like the real cache. It lives in memory and holds at most MAX_ENTRIES.
import http from 'node:http'

const MAX_ENTRIES = 20_000

function readAll(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function dechunk(buf) {
  const parts = []
  let at = 0
  for (let guard = 0; guard < 1_000_000; guard++) {
    const eol = buf.indexOf('\r\n', at)
    if (eol < 0) break
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16)
    if (!(size > 0)) break
    parts.push(buf.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  return Buffer.concat(parts)
}

/** Parses `HTTP/1.1 200 OK\r\nname: value\r\n...\r\n\r\nbody`. */
export function parseSerialisedResponse(buf) {
  const end = buf.indexOf('\r\n\r\n')
  if (end < 0) throw new Error('no blank line in the serialised response')
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n')
  const match = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine)
  if (!match) throw new Error(`bad status line ${JSON.stringify(statusLine)}`)
  const headers = []
  let chunked = false
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim()
    const value = line.slice(colon + 1).trim()
    if (name.toLowerCase() === 'transfer-encoding') { chunked = /chunked/i.test(value); continue }
    if (name.toLowerCase() === 'content-length') continue
    headers.push([name, value])
  }
  let body = buf.subarray(end + 4)
  if (chunked) body = dechunk(body)
  return { status: Number(match[1]), headers, body }
}

function freshnessSeconds(headers) {
  const get = (n) => headers.find(([k]) => k.toLowerCase() === n)?.[1]
  if (get('set-cookie') !== undefined) return 0
  const cc = (get('cache-control') ?? '').toLowerCase()
  if (/(^|[,\s])(private|no-store|no-cache)\b/.test(cc)) return 0
  const s = /s-maxage=(\d+)/.exec(cc) ?? /max-age=(\d+)/.exec(cc)
  return s ? Number(s[1]) : 0
}

export function startCacheServer() {
  const store = new Map()
  const stats = { hits: 0, misses: 0, puts: 0, refused: 0 }
  const keyOf = (req) => `${req.headers['cf-cache-namespace'] ?? ''}\u0000${req.url}`
  const server = http.createServer(async (req, res) => {
    const key = keyOf(req)
    if (req.method === 'GET') {
      const entry = store.get(key)
      if (!entry || entry.expires < Date.now()) {
        if (entry) store.delete(key)
        stats.misses++
        res.writeHead(504, { 'cf-cache-status': 'MISS' }).end()
        return
      }
      stats.hits++
      res.writeHead(entry.status, [...entry.headers.flat(), 'cf-cache-status', 'HIT', 'content-length', String(entry.body.length)])
      res.end(entry.body)
    } else if (req.method === 'PUT') {
      try {
        const parsed = parseSerialisedResponse(await readAll(req))
        const ttl = freshnessSeconds(parsed.headers)
        if (ttl <= 0) { stats.refused++; res.writeHead(413).end(); return }
        if (store.size >= MAX_ENTRIES) store.delete(store.keys().next().value)
        store.set(key, { ...parsed, expires: Date.now() + ttl * 1000 })
        stats.puts++
        res.writeHead(204).end()
      } catch {
        stats.refused++
        res.writeHead(413).end()
      }
    } else if (req.method === 'PURGE') {
      res.writeHead(store.delete(key) ? 200 : 404).end()
    } else {
      res.writeHead(405).end()
    }
  })
  server.keepAliveTimeout = 120_000
  return { server, stats }
}
