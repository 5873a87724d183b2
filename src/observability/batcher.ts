/**
 * @module
 * The aggregator sink: records are folded into groups in this isolate and sent to one shard of
 * the `MetricsAggregator` in a single call, at most every `flushMs` or at once after
 * `flushRecords` records.
 *
 * A request may not await I/O that another request started, so there is no shared in-flight
 * promise: the request that finds no send scheduled sets a timestamp *before* it schedules one
 * (a timer, then the send) in its own `waitUntil`; later requests only add to the buffer. If that
 * request's background work is cut off, the timestamp goes stale after twice `flushMs` and the
 * next request schedules again.
 */
import type { MetricsAggregator } from './metrics-aggregator'
import { addRecord, type Group } from './metric-groups'
import type { MetricsAggregatorSettings } from './schema'
import type { MetricRecord } from './record'
import { background, type MetricsSink, type WaitUntil } from './sink'
import { systemRuntime, type Runtime } from '../core/runtime'

export type AggregatorNamespace = DurableObjectNamespace<MetricsAggregator>

export const shardName = (shard: number) => `shard-${shard}`

/**
 * Built per config (by `createGateway`, through the metrics middleware) and dropped with it: the
 * buffer and the schedule timestamp below are that config's, read against its runtime.
 */
export function aggregatorSink(namespace: AggregatorNamespace, settings: MetricsAggregatorSettings, runtime: Runtime = systemRuntime): MetricsSink {
  const { flushMs, flushRecords, retentionMinutes, shards } = settings
  const shard = Math.floor(runtime.random() * shards)
  let pending = new Map<string, Group>()
  let pendingRecords = 0
  let scheduledAt = 0

  const send = async () => {
    if (pending.size === 0) return
    const groups = [...pending.values()]
    pending = new Map()
    pendingRecords = 0
    const stub = namespace.get(namespace.idFromName(shardName(shard)))
    await stub.ingest(groups, retentionMinutes)
  }

  return {
    name: 'aggregator',
    write(record: MetricRecord, waitUntil: WaitUntil) {
      addRecord(pending, record)
      pendingRecords++
      const now = runtime.now()
      if (pendingRecords >= flushRecords) {
        scheduledAt = 0
        return background('aggregator', waitUntil, send)
      }
      if (now - scheduledAt < 2 * flushMs) return
      scheduledAt = now
      background('aggregator', waitUntil, async () => {
        await runtime.sleep(flushMs)
        scheduledAt = 0
        await send()
      })
    },
  }
}
