// The peer: fast-gateway 5.0.1 on Node proxying the same route, with the same policies where it can
// (a JWT check with jose and a JWKS fetched over HTTP and cached, an in-memory fixed-window rate
// limit). Started as a child process; argv[2] is JSON { port, origin, jwt?, rateLimit? }.
import gateway from 'fast-gateway'
import { createRemoteJWKSet, jwtVerify } from 'jose'

const options = JSON.parse(process.argv[2])
const middlewares = []

const reject = (res, status, detail) => {
  res.statusCode = status
  res.setHeader('content-type', 'application/problem+json')
  res.end(JSON.stringify({ status, detail }))
}

if (options.jwt) {
  const { jwksUrl, issuer, audience } = options.jwt
  const keys = createRemoteJWKSet(new URL(jwksUrl))
  middlewares.push(async function jwt(req, res, next) {
    const header = req.headers.authorization ?? ''
    if (!header.startsWith('Bearer ')) return reject(res, 401, 'missing token')
    try {
      const { payload } = await jwtVerify(header.slice(7), keys, { issuer, audience })
      req.consumer = payload.sub
      next()
    } catch {
      reject(res, 401, 'invalid token')
    }
  })
}

if (options.rateLimit) {
  const { limit, windowMs } = options.rateLimit
  const windows = new Map()
  middlewares.push(function rateLimit(req, res, next) {
    const key = req.consumer ?? req.socket.remoteAddress
    const now = Date.now()
    let w = windows.get(key)
    if (!w || w.resetAt <= now) windows.set(key, (w = { count: 0, resetAt: now + windowMs }))
    w.count++
    res.setHeader('ratelimit', `limit=${limit}, remaining=${Math.max(0, limit - w.count)}, reset=${Math.ceil((w.resetAt - now) / 1000)}`)
    if (w.count > limit) return reject(res, 429, 'rate limited')
    next()
  })
}

const server = gateway({ middlewares, routes: [{ prefix: '', target: options.origin }] })
await server.start(options.port, '127.0.0.1')
process.on('disconnect', () => process.exit(0))
process.send({ type: 'ready' })
