// The bench's back end, in its own Node process so it never shares an event loop with the load
// generator: the origins, the JWKS server and the cache service, all on 127.0.0.1.
//   main    any path: a 1 KB JSON body; paths under /cacheable/ are `Cache-Control: public, max-age=300`
//   slow20, slow40, slow60   answer after 20, 40, 60 ms with a small JSON body (the fan-out origins)
//   jwks    GET /.well-known/jwks.json: the public keys given in argv
//   cache   workerd's cache protocol (see lib/cache-server.mjs)
// Reports its ports over IPC; exits when the parent's channel closes (the parent died or is done).
import http from 'node:http'
import { startCacheServer } from './lib/cache-server.mjs'

const { jwks } = JSON.parse(process.argv[2] ?? '{}')
const counts = {}
const count = (name) => { counts[name] = (counts[name] ?? 0) + 1 }

const payload = Buffer.from(JSON.stringify({
  id: 1,
  name: 'bench item',
  tags: ['a', 'b', 'c'],
  filler: 'x'.repeat(1024 - 70),
}))

function listen(server) {
  server.keepAliveTimeout = 120_000
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

const main = http.createServer((req, res) => {
  count('main')
  const headers = { 'content-type': 'application/json', 'content-length': payload.length }
  if (req.url.startsWith('/cacheable/')) headers['cache-control'] = 'public, max-age=300'
  res.writeHead(200, headers)
  res.end(payload)
})

const slow = (name, ms) => http.createServer((req, res) => {
  count(name)
  setTimeout(() => {
    const body = JSON.stringify({ origin: name, delayMs: ms, items: [1, 2, 3] })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }, ms)
})

const jwksServer = http.createServer((req, res) => {
  count('jwks')
  if (req.url !== '/.well-known/jwks.json' || !jwks) return res.writeHead(404).end()
  const body = JSON.stringify(jwks)
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' })
  res.end(body)
})

const cache = startCacheServer()

const ports = {
  main: await listen(main),
  slow20: await listen(slow('slow20', 20)),
  slow40: await listen(slow('slow40', 40)),
  slow60: await listen(slow('slow60', 60)),
  jwks: await listen(jwksServer),
  cache: await listen(cache.server),
}
process.on('message', (msg) => {
  if (msg?.type === 'stats') process.send({ type: 'stats', counts: { ...counts }, cache: { ...cache.stats } })
})
process.on('disconnect', () => process.exit(0))
process.send({ type: 'ready', ports })
