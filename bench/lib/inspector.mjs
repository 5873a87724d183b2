// One DevTools protocol session with workerd's V8 inspector (`--inspector-addr`), for the tools
// that look inside the isolate: bench/cpu-profile.mjs (CPU samples), bench/soak.mjs and the
// bench's `inspector` scenarios (live heap).
import http from 'node:http'
import WebSocket from 'ws'

/** Connects to the first inspector target; `send(method, params)` resolves with the result. */
export async function openInspector(port) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(5000) })).json()
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  let id = 0
  const pending = new Map()
  ws.on('message', (data) => {
    const msg = JSON.parse(data)
    if (msg.id && pending.has(msg.id)) {
      pending.get(msg.id)(msg)
      pending.delete(msg.id)
    }
  })
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const n = ++id
    pending.set(n, (msg) => (msg.error ? reject(new Error(`${method}: ${msg.error.message}`)) : resolve(msg.result)))
    ws.send(JSON.stringify({ id: n, method, params }))
  })
  return { send, close: () => ws.close() }
}

/**
 * The isolate's JS heap after a forced collection: { used, total } in MiB (NaN when unread), bounded
 * in time. workerd's inspector may leave a command waiting while the isolate is idle, so the
 * target is sent a request every 500 ms until the answer is in.
 */
export async function heapAfterGc(target) {
  const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10
  const poke = setInterval(() => http.get({ host: '127.0.0.1', port: target.port, path: '/__inspector_poke', agent: false }, (res) => res.resume()).on('error', () => {}), 500)
  try {
    const read = async () => {
      await target.inspector.send('HeapProfiler.collectGarbage')
      const { usedSize, totalSize } = await target.inspector.send('Runtime.getHeapUsage')
      return { used: mib(usedSize), total: mib(totalSize) }
    }
    return await Promise.race([read(), new Promise((r) => setTimeout(() => r({ used: NaN, total: NaN }), 10_000))])
  } catch {
    return { used: NaN, total: NaN }
  } finally {
    clearInterval(poke)
  }
}
