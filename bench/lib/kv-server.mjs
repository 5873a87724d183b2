// A stand-in for Workers KV, speaking the part of workerd's KV protocol the gateway's reads use:
//   GET  /<key>                    -> the value, or 404
//   POST /bulk/get {keys, type}    -> {"<key>": value, ...} for the keys it holds
//   PUT  /<key>                    -> stores the body (a purge generation's bump)
// Every read waits `delayMs` first: KV as seen from a data centre whose edge cache doesn't hold the
// key (production reads of a key nobody wrote, such as an unpurged path's generation, are of this
// kind until the edge caches the miss). Reads and writes are counted. In memory (`store`: key -> value, a
// string or bytes); bench only.
import http from 'node:http'
import { freePort } from './procs.mjs'

export async function startKvServer({ delayMs = 0, store = new Map() } = {}) {
  const stats = { reads: 0, keys: 0, writes: 0 }
  const port = await freePort()
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const answer = () => {
        const path = new URL(req.url, 'http://kv').pathname
        if (req.method === 'POST' && path === '/bulk/get') {
          const { keys } = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          stats.reads++
          stats.keys += keys.length
          const found = Object.fromEntries(keys.filter((k) => store.has(k)).map((k) => [k, store.get(k)]))
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found))
          return
        }
        const key = decodeURIComponent(path.slice(1))
        if (req.method === 'PUT') {
          stats.writes++
          store.set(key, Buffer.concat(chunks).toString('utf8'))
          return res.writeHead(200).end()
        }
        if (req.method !== 'GET' || !store.has(key)) return res.writeHead(404).end()
        stats.reads++
        stats.keys++
        res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(store.get(key))
      }
      // Near KV (no delay) answers at once: a timer would add a turn of this process's loop.
      if (delayMs > 0) setTimeout(answer, delayMs)
      else answer()
    })
  })
  server.keepAliveTimeout = 120_000
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { port, stats, close: () => new Promise((resolve) => server.close(resolve)) }
}
