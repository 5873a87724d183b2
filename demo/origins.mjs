// Demo origins for `npm run dev`: two small APIs on 127.0.0.1 (no internet needed).
//   :9101  users (v2 and legacy v1), echo
//   :9102  orders, recommendations, echo
//   :9104  a flaky copy of the echo API: one request in three fails (503 or a reset connection);
//          `POST /_down` makes it fail everything (health checks too), `POST /_up` brings it back
import http from 'node:http'

const USERS = {
  1: { id: '1', name: 'Ada Lovelace', email: 'ada@example.com', plan: 'pro' },
  2: { id: '2', name: 'Alan Turing', email: 'alan@example.com', plan: 'free' },
}
const ORDERS = {
  1: [
    { id: 'o-100', userId: '1', total: 42.5, items: [{ sku: 'book-1', qty: 1 }] },
    { id: 'o-101', userId: '1', total: 12, items: [{ sku: 'pen-7', qty: 3 }] },
  ],
  2: [{ id: 'o-200', userId: '2', total: 99, items: [{ sku: 'lamp-2', qty: 1 }] }],
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

function echo(req, res, name) {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () =>
    send(res, 200, { origin: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }),
  )
}

function usersApi(req, res) {
  const url = new URL(req.url, 'http://demo')
  let m
  if ((m = url.pathname.match(/^\/users\/([^/]+)$/))) {
    const user = USERS[m[1]]
    return user ? send(res, 200, user, { 'cache-control': 'max-age=30' }) : send(res, 404, { error: 'no such user' })
  }
  if ((m = url.pathname.match(/^\/legacy\/users\/([^/]+)$/))) {
    const user = USERS[m[1]]
    return user ? send(res, 200, { user_id: user.id, full_name: user.name }) : send(res, 404, { error: 'no such user' })
  }
  if (url.pathname === '/health') return send(res, 200, { ok: true })
  if (url.pathname.startsWith('/echo')) return echo(req, res, 'demo')
  send(res, 404, { error: 'not found' })
}

function ordersApi(req, res) {
  const url = new URL(req.url, 'http://demo')
  let m
  if ((m = url.pathname.match(/^\/orders\/(?:user\/)?([^/]+)$/))) return send(res, 200, { orders: ORDERS[m[1]] ?? [] })
  if ((m = url.pathname.match(/^\/recommendations\/([^/]+)$/))) {
    return setTimeout(() => send(res, 200, { userId: m[1], items: ['book-2', 'lamp-9'] }), 30)
  }
  if (url.pathname === '/health') return send(res, 200, { ok: true })
  if (url.pathname.startsWith('/echo')) return echo(req, res, 'demo-b')
  send(res, 404, { error: 'not found' })
}

let flakyCount = 0
let flakyDown = false
function flakyApi(req, res) {
  const url = new URL(req.url, 'http://demo')
  if (req.method === 'POST' && (url.pathname === '/_down' || url.pathname === '/_up')) {
    flakyDown = url.pathname === '/_down'
    return send(res, 200, { down: flakyDown })
  }
  if (flakyDown) return req.socket.destroy()
  if (url.pathname === '/health') return send(res, 200, { ok: true })
  const n = flakyCount++ % 3
  if (n === 1) return send(res, 503, { error: 'flaky origin says no' })
  if (n === 2 && url.searchParams.has('reset')) return req.socket.destroy()
  if (url.pathname.startsWith('/echo')) return echo(req, res, 'demo-flaky')
  send(res, 404, { error: 'not found' })
}

const HANDLERS = [usersApi, ordersApi, flakyApi]

/**
 * The demo origins, each on its port (0, the default: one the system picks, so two can never be
 * given the same one, as a free port looked up beforehand can be taken, or handed out twice,
 * before it is listened on). Resolves with their ports once all listen; rejects, with none left
 * running, when one can't.
 */
export async function listenDemoOrigins({ usersPort = 0, ordersPort = 0, flakyPort = 0 } = {}) {
  const wanted = [usersPort, ordersPort, flakyPort]
  const servers = HANDLERS.map((handler) => http.createServer(handler))
  const stop = () => servers.forEach((s) => s.close())
  try {
    await Promise.all(servers.map((server, i) => new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(wanted[i], '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })))
  } catch (err) {
    stop()
    throw err
  }
  const [users, orders, flaky] = servers.map((s) => s.address().port)
  return { usersPort: users, ordersPort: orders, flakyPort: flaky, stop }
}

/** The demo origins on 9101, 9102 and 9104 (`npm run dev`); resolves with their stop. A port taken ends the process, saying so. */
export async function startDemoOrigins() {
  try {
    return (await listenDemoOrigins({ usersPort: 9101, ordersPort: 9102, flakyPort: 9104 })).stop
  } catch (err) {
    console.error(`demo origin: ${err.message}`)
    process.exit(1)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await startDemoOrigins()
  console.log('demo origins on http://127.0.0.1:9101, :9102 and :9104 (flaky)')
}
