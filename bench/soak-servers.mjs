// The soak's back end, in its own Node process (it never shares an event loop with the load):
//   main    any path: a small JSON body; under /cacheable/ `Cache-Control: public, max-age=<n>`
//   steady  the pool's healthy target: always a small JSON body
//   flaky   the pool's other target, which goes through SCHEDULE (soak-config.mjs) again and again:
//           ok, fail (500 from the origin), hang (never answers), reset (destroys the socket),
//           down (stops listening: connection refused), then back to ok
//   jwks    GET /.well-known/jwks.json: the public keys given in argv
//   cache   workerd's cache protocol (lib/cache-server.mjs)
// Every origin response carries `X-Soak-Origin: <name>`, so the soak can tell an origin's own 5xx
// from the gateway's. Reports its ports over IPC, answers { type: 'stats' } with counts and the
// flaky target's phase, and exits when the parent's channel closes.
import http from 'node:http'
import { startCacheServer } from './lib/cache-server.mjs'
import { phaseAt } from './soak-config.mjs'

const { jwks, cacheSeconds = 5, cycleScale = 1 } = JSON.parse(process.argv[2] ?? '{}')
const counts = {}
const count = (name) => { counts[name] = (counts[name] ?? 0) + 1 }
const started = Date.now()
const phase = () => phaseAt(Date.now() - started, cycleScale)

function json(res, name, body, headers = {}) {
  const text = JSON.stringify(body)
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-soak-origin': name, ...headers })
  res.end(text)
}

function listen(server, port = 0) {
  server.keepAliveTimeout = 60_000
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve(server.address().port))
  })
}

const main = http.createServer((req, res) => {
  count('main')
  const cacheable = req.url.startsWith('/cacheable/')
  json(res, 'main', { origin: 'main', path: req.url, at: Date.now() }, cacheable ? { 'cache-control': `public, max-age=${cacheSeconds}` } : {})
})

const steady = http.createServer((req, res) => {
  count('steady')
  json(res, 'steady', { origin: 'steady', path: req.url })
})

// Hanging requests are kept so the server can close them when the process ends.
const hanging = new Set()
const flaky = http.createServer((req, res) => {
  const now = phase()
  count(`flaky:${now}`)
  if (now === 'fail') {
    res.writeHead(500, { 'content-type': 'text/plain', 'x-soak-origin': 'flaky' })
    return res.end('flaky origin failing on schedule')
  }
  if (now === 'hang') {
    hanging.add(res)
    res.on('close', () => hanging.delete(res))
    return
  }
  if (now === 'reset') return req.socket.destroy()
  json(res, 'flaky', { origin: 'flaky', path: req.url })
})

const jwksServer = http.createServer((req, res) => {
  count('jwks')
  if (req.url !== '/.well-known/jwks.json' || !jwks) return res.writeHead(404).end()
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' })
  res.end(JSON.stringify(jwks))
})

const cache = startCacheServer()

const ports = {
  main: await listen(main),
  steady: await listen(steady),
  flaky: await listen(flaky),
  jwks: await listen(jwksServer),
  cache: await listen(cache.server),
}

// `down`: stop listening (and drop open connections) for the phase, then listen on the same port again.
let listening = true
const downTimer = setInterval(async () => {
  const down = phase() === 'down'
  if (down && listening) {
    listening = false
    flaky.close()
    flaky.closeAllConnections()
  } else if (!down && !listening) {
    try {
      await listen(flaky, ports.flaky)
      listening = true
    } catch {
      // the port is briefly busy: try again next tick
    }
  }
}, 100)

process.on('message', (msg) => {
  if (msg?.type === 'stats') process.send({ type: 'stats', counts: { ...counts }, phase: phase(), cache: { ...cache.stats } })
})
process.on('disconnect', () => {
  clearInterval(downTimer)
  for (const res of hanging) res.destroy()
  process.exit(0)
})
process.send({ type: 'ready', ports, startedAt: started })
