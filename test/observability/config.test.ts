/** `gateway.metrics` config: exact validation messages naming the path. */
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/parse'
import { configProblems } from '../support/config'

const withMetrics = (metrics: unknown) => ({ gateway: { metrics }, routes: [{ id: 'x', match: { path: '/x' }, action: { type: 'respond' } }] })

function problems(metrics: unknown): string[] {
  return configProblems(withMetrics(metrics))
}

describe('gateway.metrics config', () => {
  it('defaults: no sinks, no Server-Timing; {} aggregator gets its defaults', () => {
    const off = parseConfig(withMetrics(undefined))
    expect(off.ok && off.config.gateway.metrics).toEqual({ serverTiming: false })
    const on = parseConfig(withMetrics({ aggregator: {} }))
    expect(on.ok && on.config.gateway.metrics.aggregator).toEqual({
      binding: 'METRICS_AGGREGATOR',
      shards: 4,
      retentionMinutes: 1500,
      flushMs: 1000,
      flushRecords: 200,
    })
  })

  it.each([
    [{ aggregator: { shards: 0 } }, 'gateway.metrics.aggregator.shards: Invalid value: Expected >=1 but received 0'],
    [{ aggregator: { shards: 2.5 } }, 'gateway.metrics.aggregator.shards: Invalid integer: Received 2.5'],
    [{ aggregator: { retentionMinutes: 5 } }, 'gateway.metrics.aggregator.retentionMinutes: Invalid value: Expected >=10 but received 5'],
    [{ aggregator: { flushMs: 120000 } }, 'gateway.metrics.aggregator.flushMs: Invalid value: Expected <=60000 but received 120000'],
    [{ aggregator: { binding: 'bad name!' } }, 'gateway.metrics.aggregator.binding: must be letters, digits, "_", "-" or "." (at most 128)'],
    [{ aggregator: { shard: 2 } }, 'gateway.metrics.aggregator.shard: unknown key, did you mean "shards"? (allowed: binding, shards, retentionMinutes, flushMs, flushRecords)'],
    [{ serverTiming: 'yes' }, 'gateway.metrics.serverTiming: expected boolean, received "yes"'],
    [{ analyticsEngine: '' }, 'gateway.metrics.analyticsEngine: must be letters, digits, "_", "-" or "." (at most 128)'],
  ])('%j -> %s', (metrics, message) => {
    expect(problems(metrics)).toEqual([message])
  })
})

describe('gateway.telemetry config', () => {
  const withOtlp = (otlp: unknown) => configProblems({ gateway: { telemetry: { otlp } }, routes: [{ id: 'x', match: { path: '/x' }, action: { type: 'respond' } }] })

  it('defaults: off; an endpoint alone gets the rest', () => {
    const off = parseConfig(withMetrics(undefined))
    expect(off.ok && off.config.gateway.telemetry).toEqual({})
    const on = parseConfig({ gateway: { telemetry: { otlp: { endpoint: 'https://otlp.example.com/v1/traces' } } }, routes: [] })
    expect(on.ok && on.config.gateway.telemetry.otlp).toEqual({
      endpoint: 'https://otlp.example.com/v1/traces',
      headers: {},
      sampleRate: 1,
      flushMs: 1000,
      batchSpans: 256,
      queueSpans: 2048,
      timeoutMs: 5000,
    })
  })

  it.each([
    [{}, 'gateway.telemetry.otlp.endpoint: required'],
    [{ endpoint: 'ftp://x/v1/traces' }, 'gateway.telemetry.otlp.endpoint: must be an http(s) URL, e.g. "https://otlp.example.com/v1/traces"'],
    [{ endpoint: 'https://x/v1/traces', sampleRate: 1.5 }, 'gateway.telemetry.otlp.sampleRate: Invalid value: Expected <=1 but received 1.5'],
    [{ endpoint: 'https://x/v1/traces', headers: { Authorization: 'Bearer abc' } }, 'gateway.telemetry.otlp.headers.Authorization: must be letters, digits, "_", "-" or "." (at most 128)'],
    [{ endpoint: 'https://x/v1/traces', headers: { 'bad header': 'X' } }, 'gateway.telemetry.otlp.headers["bad header"]: must be a valid header name'],
    [{ endpoint: 'https://x/v1/traces', queueSpans: 0 }, 'gateway.telemetry.otlp.queueSpans: Invalid value: Expected >=1 but received 0'],
  ])('%j -> %s', (otlp, message) => {
    expect(withOtlp(otlp)).toEqual([message])
  })
})
