// Load generation with autocannon's programmatic API. Latency percentiles come from the raw time
// of each response (autocannon's 'response' event, hrtime-based, never coordinated-omission
// "corrected"), collected here, not from its histogram.
import autocannon from 'autocannon'

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]
}

export function median(values) {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Most samples a run keeps (enough for a p99; bounds memory on fast targets). */
const MAX_SAMPLES = 400_000

/**
 * The index of the next request, for `path(i)` and `headers(i)`: counted over the whole process,
 * never from 0 again, so a path made unique per request (a cache miss each time) is never repeated
 * by a later round or target, which would find the earlier one's stored answer.
 */
let nextIndex = 0

/**
 * Fires `request` ({ method, path | path(i), headers, body }) at `url` for `seconds` (or `amount`
 * requests) over `connections`.
 * Returns { rps, p50, p99, max, count, errors, non2xx, timeouts }.
 */
export function measure(url, request, { connections, seconds, amount }) {
  const pathFor = typeof request.path === 'function' ? request.path : null
  // `headers(i)`: headers of their own per request (e.g. a different token each).
  const headersFor = typeof request.headers === 'function' ? request.headers : null
  const opts = {
    url,
    connections,
    ...(amount ? { amount } : { duration: seconds }),
    timeout: 10,
    method: request.method ?? 'GET',
    headers: headersFor ? {} : request.headers ?? {},
    body: request.body,
    pipelining: 1,
  }
  if (pathFor || headersFor) {
    opts.requests = [{
      setupRequest: (req) => {
        const i = nextIndex++
        return { ...req, ...(pathFor && { path: pathFor(i) }), ...(headersFor && { headers: { ...req.headers, ...headersFor(i) } }) }
      },
    }]
  }
  if (!pathFor) opts.path = request.path ?? '/'
  const samples = []
  let ok = 0
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const instance = autocannon(opts, (err, result) => {
      if (err) return reject(err)
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9
      samples.sort((a, b) => a - b)
      resolve({
        rps: ok / elapsed,
        p50: percentile(samples, 50),
        p99: percentile(samples, 99),
        max: samples.at(-1) ?? NaN,
        count: ok,
        errors: result.errors,
        timeouts: result.timeouts,
        non2xx: result.non2xx,
        samples,
      })
    })
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) {
        ok++
        if (samples.length < MAX_SAMPLES) samples.push(ms)
      }
    })
  })
}

/** One request, to check a target answers the way the scenario expects before it is measured. */
export async function probe(url, request, i = 0) {
  const path = typeof request.path === 'function' ? request.path(`probe-${i}`) : request.path ?? '/'
  const headers = typeof request.headers === 'function' ? request.headers(i) : request.headers ?? {}
  const res = await fetch(url + path, { method: request.method ?? 'GET', headers, body: request.body, signal: AbortSignal.timeout(10_000) })
  const body = await res.text()
  return { status: res.status, headers: Object.fromEntries(res.headers), body }
}
