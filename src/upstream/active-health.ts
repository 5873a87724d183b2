/**
 * @module
 * The isolate's side of active health checks: reads the pool's shared state from its
 * `HealthChecker` Durable Object and keeps it for `cacheMs`, so a request pays for a read only
 * when the cached copy is stale, and then only once per isolate at a time (a timestamp set before
 * the read, not a shared promise: a Workers request can't await another request's I/O).
 * With a cached copy in hand, the refresh runs after the response (`waitUntil`). If the object
 * can't be reached, the pool runs on passive health alone: a broken checker is no outage.
 */
import type { HealthSnapshot, HealthSpec } from './health-checker'
import type { HealthChecker } from './health-checker'
import { logEvent } from '../core/logging'
import { systemRuntime, type Runtime } from '../core/runtime'

export type ActiveHealth = {
  /** The latest shared state (undefined while none could be read). */
  read(waitUntil: ((p: Promise<unknown>) => void) | undefined): Promise<HealthSnapshot | undefined>
}

/** A read slower than this is abandoned for this request (it still completes in the background). */
const READ_WAIT_MS = 1_000

export function createActiveHealth(key: string, spec: HealthSpec, cacheMs: number, namespace: DurableObjectNamespace<HealthChecker>, runtime: Runtime = systemRuntime): ActiveHealth {
  const id = namespace.idFromName(key)
  let snapshot: HealthSnapshot | undefined
  let fetchedAt = 0
  let refreshingSince = 0
  return {
    async read(waitUntil) {
      const now = runtime.now()
      if (snapshot && now - fetchedAt < cacheMs) return snapshot
      if (refreshingSince !== 0 && now - refreshingSince < READ_WAIT_MS) return snapshot
      refreshingSince = now
      const refresh = namespace
        .get(id)
        .read(spec)
        .then((s) => {
          snapshot = s as HealthSnapshot
          fetchedAt = runtime.now()
        })
        .catch((err: unknown) => logEvent('health_state_unavailable', { pool: key, error: String(err) }))
        .finally(() => (refreshingSince = 0))
      if (snapshot && waitUntil) {
        waitUntil(refresh)
        return snapshot
      }
      let timer: number | undefined
      await Promise.race([refresh, new Promise<void>((resolve) => (timer = runtime.setTimeout(resolve, READ_WAIT_MS)))])
      runtime.clearTimeout(timer)
      return snapshot
    },
  }
}
