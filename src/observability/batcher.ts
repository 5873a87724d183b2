/**
 * @module
 * The aggregator sink: records are folded into groups in this isolate and sent to one shard of
 * the `MetricsAggregator` in a single call, at most every `flushMs` or at once after
 * `flushRecords` records (`flushSchedule` in ./sink: no shared in-flight promise, since a request
 * may not await I/O another request started).
 */
import type { MetricsAggregator } from './metrics-aggregator'
import { addRecord, type Group } from './metric-groups'
import type { MetricsAggregatorSettings } from './schema'
import type { MetricRecord } from './record'
import { flushSchedule, type MetricsSink, type WaitUntil } from './sink'
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
  const afterWrite = flushSchedule('aggregator', runtime, flushMs)

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
      afterWrite(pendingRecords >= flushRecords, waitUntil, send)
    },
  }
}
