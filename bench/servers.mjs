// The bench's back end, in its own Node process so it never shares an event loop with the load
// generator: the origins, the JWKS server and the cache service, all on 127.0.0.1.
//   main    any path: a 1 KB JSON body; paths under /cacheable/ are `Cache-Control: public, max-age=300`;
//           paths under /catalog/ a 16 KB API-like JSON body (100 items: ids, prices, nested objects,
//           no number of 16 digits), for the aggregation's parse cost; under /catalog/ids- the same
//           body with each id sent as a string of 19 digits (as APIs send ids a double can't hold);
//           under /catalog/floats- the body with two long floats per item, each a double's own
//           shortest text (as JavaScript prints 0.1 + 0.2)
//   slow20, slow40, slow60   answer after 20, 40, 60 ms with a small JSON body (the fan-out origins)
//   tail10  like main, but every 10th answer comes after 200 ms: the slow target of the hedging pool
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

// Ids up to 15 digits (a double holds them exactly), prices, flags, nested objects and lists.
const catalog = Buffer.from(JSON.stringify({
  page: 1,
  total: 100,
  items: Array.from({ length: 100 }, (_, i) => ({
    id: 100_000_000_000_000 + i * 7919,
    sku: `SKU-${String(i).padStart(5, '0')}`,
    price: Math.round((i * 13.37) % 500 * 100) / 100,
    inStock: i % 3 !== 0,
    dims: { w: i % 40, h: (i * 3) % 25, d: 1.5 },
    tags: ['new', 'sale', `t${i % 7}`],
  })),
}))

// The same, each id a string of 19 digits.
const catalogIds = Buffer.from(catalog.toString().replace(/"id":(\d+)/g, (_, digits) => `"id":"${digits}0000"`))
// The same, each price computed (`+ 0.1 + 0.2`) and a latitude beside it: 17-19 characters each.
const catalogFloats = Buffer.from(catalog.toString().replace(/"price":([\d.]+)/g, (_, price) => `"price":${Number(price) + 0.1 + 0.2},"lat":${37 + Number(price) / 1e3 + 1e-14}`))

function listen(server) {
  server.keepAliveTimeout = 120_000
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

const main = http.createServer((req, res) => {
  count('main')
  const body = req.url.startsWith('/catalog/floats-') ? catalogFloats : req.url.startsWith('/catalog/ids-') ? catalogIds : req.url.startsWith('/catalog/') ? catalog : payload
  const headers = { 'content-type': 'application/json', 'content-length': body.length }
  if (req.url.startsWith('/cacheable/')) headers['cache-control'] = 'public, max-age=300'
  res.writeHead(200, headers)
  res.end(body)
})

const slow = (name, ms) => http.createServer((req, res) => {
  count(name)
  setTimeout(() => {
    const body = JSON.stringify({ origin: name, delayMs: ms, items: [1, 2, 3] })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }, ms)
})

let tailCount = 0
const tail10 = http.createServer((req, res) => {
  count('tail10')
  const answer = () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': payload.length })
    res.end(payload)
  }
  if (++tailCount % 10 === 0) setTimeout(answer, 200)
  else answer()
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
  tail10: await listen(tail10),
  jwks: await listen(jwksServer),
  cache: await listen(cache.server),
}
process.on('message', (msg) => {
  if (msg?.type === 'stats') process.send({ type: 'stats', counts: { ...counts }, cache: { ...cache.stats } })
})
process.on('disconnect', () => process.exit(0))
process.send({ type: 'ready', ports })
