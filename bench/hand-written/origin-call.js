// What every hand-written twin (bench/hand-written/) does around its origin call, as the gateway's
// pass-through does it (src/upstream/pass-through.ts, src/gateway/request-context.ts). The same
// steps as the lean worker (bench/lean-worker.js, whose own helpers it uses; the lean worker stays
// one file that workerd runs as it is), plus the promises the lean minimum leaves out:
// - README "Proxying", timeouts: no headers within `headers` (15 s) is a 504; a small body (a
//   declared length up to 64 KiB) is read whole before the answer leaves, so a stall inside it is
//   a 504 too, not a cut-off 200; a larger body is streamed and cut after `idle` (60 s) without a
//   chunk. One timer bounds the headers and the small body;
// - an origin that can't be reached, or answers with no valid status, is a 502; every error is
//   problem+json with the request id;
// - README "Logging": a client that goes away aborts the origin call and is logged as 499.

import { stripHopByHop, upstreamHeaders } from '../lean-worker.js'

// The lean worker's own request headers, for the twins.
export { upstreamHeaders }

const HEADERS_MS = 15_000
const IDLE_MS = 60_000
const READ_WHOLE_UP_TO = 64 * 1024

export const problem = (status, title, requestId) =>
  new Response(JSON.stringify({ type: 'about:blank', title, status, instance: `urn:request:${requestId}` }), {
    status,
    headers: { 'content-type': 'application/problem+json', 'X-Request-Id': requestId },
  })

// A larger body: each chunk must come within IDLE_MS, else the stream is cut.
function withIdleTimeout(body) {
  const reader = body.getReader()
  return new ReadableStream({
    async pull(controller) {
      let timer
      const idle = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('idle timeout')), IDLE_MS)))
      try {
        const chunk = await Promise.race([reader.read(), idle])
        if (chunk.done) controller.close()
        else controller.enqueue(chunk.value)
      } catch (err) {
        reader.cancel(err).catch(() => {})
        controller.error(err)
      } finally {
        clearTimeout(timer)
      }
    },
    cancel: (reason) => reader.cancel(reason),
  })
}

/**
 * Calls the origin: `{ res, bytes }` (`bytes`, the body when read whole), or `{ error }`, the
 * status of the problem to answer. `onClientGone` runs when the client goes away first.
 *
 * `omit` is for pricing only (`npm run bench -- --profile`, each variant beside the gateway with
 * the same stage removed): "body-read" hands a small body through untouched (no stall bound),
 * "abort-wiring" drops the timer, the abort signal and the client-gone listener. Both break
 * promises; the twins run with neither.
 */
export async function send(target, init, request, onClientGone, omit = '') {
  if (omit.includes('abort-wiring')) return sendUnbounded(target, init, omit)
  const controller = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, HEADERS_MS)
  const onAbort = () => {
    controller.abort()
    onClientGone()
  }
  request.signal.addEventListener('abort', onAbort)
  try {
    const upstream = await fetch(target, { ...init, redirect: 'manual', signal: controller.signal })
    return await answerOf(upstream, omit)
  } catch {
    return { error: timedOut ? 504 : 502 }
  } finally {
    clearTimeout(timer)
    request.signal.removeEventListener('abort', onAbort)
  }
}

/** Pricing only: the origin call with no timer, abort signal or client-gone listener. */
async function sendUnbounded(target, init, omit) {
  try {
    return await answerOf(await fetch(target, { ...init, redirect: 'manual' }), omit)
  } catch {
    return { error: 502 }
  }
}

/** The origin's answer: a small body read whole (unless `omit` says "body-read"), a larger one streamed under the idle timeout. */
async function answerOf(upstream, omit) {
  if (upstream.status < 200 || upstream.status > 599) return { error: 502 }
  const out = { status: upstream.status, statusText: upstream.statusText, headers: upstream.headers }
  let res
  let bytes
  if (!upstream.body) res = new Response(null, out)
  else if (omit.includes('body-read')) res = new Response(upstream.body, out)
  else if (Number(upstream.headers.get('content-length') ?? NaN) <= READ_WHOLE_UP_TO) res = new Response((bytes = await upstream.arrayBuffer()), out)
  else res = new Response(withIdleTimeout(upstream.body), out)
  stripHopByHop(res.headers)
  return { res, bytes }
}

/** The request's one log line: written once, at the answer or when the client goes away (499). */
export function logLine(record, started) {
  let written = false
  return (status) => {
    if (written) return false
    written = true
    record.status = status
    record.durationMs = Date.now() - started
    console.log(JSON.stringify(record))
    return true
  }
}
