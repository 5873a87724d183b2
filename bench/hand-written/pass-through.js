// The pass-through written by hand with every promise the gateway keeps for it (issue 16): the
// lean worker's steps (bench/lean-worker.js) and the origin call as `./origin-call.js` makes it
// (timeouts, a small body read whole so a stall is a 504, problems, 499). The floor of the
// pass-through targets: what this work costs on workerd, apart from what the gateway adds.
// Bindings (text): TARGET_URL, the origin's base URL; OMIT (optional, pricing only: see `send`).
import { logLine, problem, send, upstreamHeaders } from './origin-call.js'

export default {
  async fetch(request, env) {
    const started = Date.now()
    const requestId = crypto.randomUUID()
    const url = new URL(request.url)
    const { headers, traceId, spanId } = upstreamHeaders(request, url, requestId)
    const upstreamLog = { name: 'origin', target: env.TARGET_URL }
    const writeLog = logLine({ requestId, method: request.method, path: url.pathname, traceId, spanId, routeId: 'api', upstream: upstreamLog }, started)
    const sent = await send(env.TARGET_URL + url.pathname + url.search, { method: request.method, headers, body: request.body }, request, () => writeLog(499), env.OMIT)
    if (!sent.res) {
      const res = problem(sent.error, sent.error === 504 ? 'Gateway Timeout' : 'Bad Gateway', requestId)
      writeLog(res.status)
      return res
    }
    upstreamLog.status = sent.res.status
    sent.res.headers.set('X-Request-Id', requestId)
    writeLog(sent.res.status)
    return sent.res
  },
}
