/**
 * A controllable fleet of origins on 127.0.0.1 for the resilience tests: instances that can be told,
 * over HTTP, to go down (stop listening: connection refused), come back up, answer with an error
 * status, hang, or reset the connection. Each test spawns its own instances, so tests never share one.
 *
 * Control server (its address is the FLEET_URL binding):
 *   POST /spawn?count=N                   -> [{ id, url }] new instances, up
 *   POST /instances/<id>/mode?mode=M      M = up | down | fail | hang | reset
 *        [&status=503]                    the status `fail` answers with (default 500)
 *        [&times=N]                       fail/hang/reset only the next N requests, then up again
 *   GET  /instances/<id>/stats            { count, health, requests: [{ method, path, body }], arrivals, abandoned }
 *                                         (`arrivals`: each counted request's arrival, the fleet's Date.now();
 *                                         `abandoned`: counted requests whose client closed before the answer)
 *
 * An instance answers any path with 200 JSON `{ instance, method, path, body }` and an
 * `x-instance` header; `/health` answers the same way (and follows the mode), but is counted
 * in `health`, not in `count`.
 */
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

type Mode = 'up' | 'down' | 'fail' | 'hang' | 'reset'
type Seen = { method: string; path: string; body: string }

type Instance = {
  id: string
  port: number
  server: http.Server
  sockets: Set<Socket>
  mode: Mode
  status: number
  /** Requests left before a temporary mode reverts to `up`; undefined = until told otherwise. */
  times: number | undefined
  count: number
  health: number
  requests: Seen[]
  arrivals: number[]
  abandoned: number
}

export type Fleet = { url: string; close(): Promise<void> }

const MAX_INSTANCES = 200
const MAX_LOGGED = 2_000

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', () => resolve(''))
  })
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

function createInstanceServer(instance: () => Instance): http.Server {
  return http.createServer(async (req, res) => {
    const self = instance()
    const url = new URL(req.url ?? '/', 'http://fleet')
    const body = await readBody(req)
    if (url.pathname === '/health') self.health++
    else {
      self.count++
      if (self.requests.length < MAX_LOGGED) self.requests.push({ method: req.method ?? '', path: url.pathname, body })
      if (self.arrivals.length < MAX_LOGGED) self.arrivals.push(Date.now())
      res.on('close', () => {
        if (!res.writableEnded) self.abandoned++
      })
    }
    const mode = self.mode
    if (mode !== 'up' && self.times !== undefined && --self.times <= 0) {
      self.mode = 'up'
      self.times = undefined
    }
    if (mode === 'hang') return
    if (mode === 'reset') return req.socket.destroy()
    const status = mode === 'fail' ? self.status : 200
    json(res, status, { instance: self.id, method: req.method, path: url.pathname, body }, { 'x-instance': self.id })
  })
}

async function spawn(instances: Map<string, Instance>): Promise<Instance> {
  const id = `i${instances.size + 1}`
  const server = createInstanceServer(() => instances.get(id)!)
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  const port = await listen(server, 0)
  const instance: Instance = { id, port, server, sockets, mode: 'up', status: 500, times: undefined, count: 0, health: 0, requests: [], arrivals: [], abandoned: 0 }
  instances.set(id, instance)
  return instance
}

/** Stops listening and cuts open connections: new connections are refused. */
function goDown(instance: Instance): Promise<void> {
  return new Promise((resolve) => {
    for (const s of instance.sockets) s.destroy()
    instance.server.close(() => resolve())
  })
}

export async function startFleet(): Promise<Fleet> {
  const instances = new Map<string, Instance>()

  const control = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fleet')
    if (url.pathname === '/spawn' && req.method === 'POST') {
      const count = Math.min(Math.max(Number(url.searchParams.get('count') ?? 1), 1), 10)
      if (instances.size + count > MAX_INSTANCES) return json(res, 429, { error: 'fleet is full' })
      const spawned: { id: string; url: string }[] = []
      for (let i = 0; i < count; i++) {
        const instance = await spawn(instances)
        spawned.push({ id: instance.id, url: `http://127.0.0.1:${instance.port}` })
      }
      return json(res, 200, spawned)
    }
    const m = url.pathname.match(/^\/instances\/([^/]+)\/(mode|stats)$/)
    const instance = m ? instances.get(m[1]!) : undefined
    if (!m || !instance) return json(res, 404, { error: 'unknown instance or endpoint' })
    if (m[2] === 'stats') return json(res, 200, { count: instance.count, health: instance.health, requests: instance.requests, arrivals: instance.arrivals, abandoned: instance.abandoned })
    const mode = url.searchParams.get('mode') as Mode
    if (!['up', 'down', 'fail', 'hang', 'reset'].includes(mode)) return json(res, 400, { error: 'unknown mode' })
    const wasDown = instance.mode === 'down'
    if (mode === 'down' && !wasDown) await goDown(instance)
    if (mode !== 'down' && wasDown) await listen(instance.server, instance.port)
    instance.mode = mode
    instance.status = Number(url.searchParams.get('status') ?? 500)
    const times = url.searchParams.get('times')
    instance.times = times === null ? undefined : Number(times)
    return json(res, 200, { id: instance.id, mode })
  })

  const port = await listen(control, 0)
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await Promise.all([...instances.values()].filter((i) => i.mode !== 'down').map((i) => goDown(i)))
      control.closeAllConnections()
      await new Promise<void>((resolve) => control.close(() => resolve()))
    },
  }
}
