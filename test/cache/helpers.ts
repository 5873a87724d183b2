/** Shared setup of the cache tests: a gateway with a cached route in front of the test origin. */
import { expect } from 'vitest'
import { systemRuntime, type Runtime } from '../../src/core/runtime'
import { forgetGenerationCopies } from '../../src/http-cache/generation'
import type { GatewayConfigInput } from '../../src/config/schema'
import { newTag, ORIGIN, originConfig, originStats, testGateway } from '../support/gateway'

type RouteInput = GatewayConfigInput['routes'][number]
type PolicyInput = NonNullable<RouteInput['policies']>[number]

/**
 * The cache tests' runtime: the system's, with a clock the tests move forward (`advance`) instead
 * of sleeping. Timers stay real: the origins behind the cache are real.
 *
 * Each test starts on the real clock. Not by an `afterEach` here: test files share this module
 * (vitest's `isolate: false`), so a hook registered when it is first imported serves that first
 * file only, and every later file's clock kept the offsets of the tests before. The clock going
 * back also forgets the purge generations this isolate remembered under the moved clock, which
 * would otherwise outlive their time and hide a purge the next test writes.
 */
let offset = 0
let offsetTest: string | undefined
function offsetNow(): number {
  const { testPath, currentTestName } = expect.getState()
  const test = `${testPath}\n${currentTestName}`
  if (test !== offsetTest) {
    offsetTest = test
    offset = 0
    forgetGenerationCopies()
  }
  return offset
}
export const cacheRuntime: Runtime = { ...systemRuntime, now: () => systemRuntime.now() + offsetNow() }
export function advance(seconds: number): void {
  offset = offsetNow() + seconds * 1000
}

/**
 * A gateway whose `/c/*` route caches (options `cache`) and proxies to the origin without the
 * prefix; everything else goes uncached to the origin. `more.env`: bindings over the test's.
 */
export function cachedGateway(cache: Record<string, unknown> = {}, more: { policies?: PolicyInput[]; global?: PolicyInput[]; env?: Record<string, unknown> } = {}) {
  return testGateway(
    originConfig({
      ...(more.global && { policies: more.global }),
      routes: [
        {
          id: 'cached',
          match: { path: '/c/*' },
          policies: [{ type: 'cache', ...cache } as PolicyInput, ...(more.policies ?? [])],
          action: { type: 'proxy', upstream: 'origin', stripPrefix: '/c' },
        },
        { id: 'all', match: { path: '/*' }, action: { type: 'proxy', upstream: 'origin' } },
      ],
    }),
    more.env ?? {},
    { runtime: cacheRuntime },
  )
}

/** A fresh tag and a request helper that sends it. */
export function tagged() {
  const tag = newTag()
  return {
    tag,
    headers: (extra: Record<string, string> = {}) => ({ 'x-test-tag': tag, ...extra }),
    count: async () => (await originStats(tag)).count,
    override: (query: string) => fetch(`${ORIGIN}/_control/override?tag=${tag}&${query}`, { method: 'POST' }),
  }
}

export function cacheStatus(res: Response): string | null {
  return res.headers.get('cache-status')
}

/** The origin's per-tag sequence number of the request that produced this response. */
export function seq(res: Response): number {
  return Number(res.headers.get('x-origin-seq'))
}

/** The test origin's `cc` query parameter: the Cache-Control it answers with. */
export const cc = (value: string) => `cc=${encodeURIComponent(value)}`

/** The test origin's `h` query parameter: one more response header it sends. */
export const h = (name: string, value: string) => `h=${encodeURIComponent(`${name}:${value}`)}`

/**
 * A cached gateway (options `cache`) whose entry for `url(tag)` is already stored: a fresh tag, the
 * request sent once and its body read. `send(headers)` asks for the same URL again, with the tag.
 */
export async function storedEntry(url: (tag: string) => string, cache: Record<string, unknown> = {}) {
  const gw = cachedGateway(cache)
  const t = tagged()
  const path = url(t.tag)
  const send = (headers: Record<string, string> = {}) => gw.fetch(path, { headers: t.headers(headers) })
  await (await send()).arrayBuffer()
  return { gw, t, url: path, send }
}
