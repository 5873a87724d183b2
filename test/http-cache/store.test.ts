/**
 * A `Vary`-ing response is two writes (its variant, then the marker at the primary key): a lookup
 * that runs between them, or after one of them failed, must find a whole entry (old or new) or
 * nothing, never a marker without its variant. The writes go through a cache whose second put
 * waits for the test, so the lookup really runs between the two.
 */
import { describe, expect, it } from 'vitest'
import { lookup, store, type StoreInput } from '../../src/http-cache/store'
import { waitFor } from '../support/runtime'

const ORIGIN = 'http://store.test'

/** A real named cache whose put number `held` waits for `release()`, and whose put number `failing` is refused. */
async function drivenCache({ held, failing }: { held?: number; failing?: number }) {
  const real = await caches.open(`store-test-${crypto.randomUUID()}`)
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let puts = 0
  const cache = {
    match: (request: RequestInfo, options?: CacheQueryOptions) => real.match(request, options),
    delete: (request: RequestInfo, options?: CacheQueryOptions) => real.delete(request, options),
    async put(request: RequestInfo, response: Response) {
      const n = ++puts
      if (n === failing) throw new Error('Cache storage failed')
      if (n === held) await gate
      return real.put(request, response)
    },
  } as unknown as Cache
  return { real, cache, release, puts: () => puts }
}

function input(cache: Cache, primary: string, body: string, vary: string | undefined, headers: Headers): StoreInput {
  const now = Date.now()
  return {
    cache,
    origin: ORIGIN,
    primary,
    headers,
    now,
    response: new Response(body, { headers: vary ? { vary } : {} }),
    freshness: { storedAt: now, ttl: 60, swr: 0, sie: 0 },
    maxBodyBytes: 1024,
    strip: [],
  }
}

async function bodyAt(cache: Cache, primary: string, headers: Headers): Promise<string | undefined> {
  const found = await lookup(cache, ORIGIN, primary, headers)
  expect(found.entry?.variants, 'a lookup never ends at a bare marker').toBeUndefined()
  return found.entry ? found.entry.response.text() : undefined
}

async function written(input: StoreInput): Promise<void> {
  const { response, done } = store(input)
  await response.body?.cancel()
  expect(await done).toEqual({ stored: true })
}

describe('a Vary-ing entry is never seen half written', () => {
  const en = new Headers({ 'accept-language': 'en' })

  it('first write: between the variant and the marker a lookup finds nothing (a miss), then the whole entry', async () => {
    const driven = await drivenCache({ held: 2 })
    const primary = `first-${crypto.randomUUID()}`
    const writing = written(input(driven.cache, primary, 'v1', 'accept-language', en))
    await waitFor(() => driven.puts() === 2)
    expect(await bodyAt(driven.real, primary, en)).toBeUndefined()
    driven.release()
    await writing
    expect(await bodyAt(driven.real, primary, en)).toBe('v1')
  })

  // [case, the entry before (body, Vary), the new entry (body, Vary)]
  const replacements: [string, [string, string | undefined], [string, string]][] = [
    ['replacing an entry without Vary: between the writes the old whole entry is still found', ['old', undefined], ['new', 'accept-language']],
    ['the origin varying on more headers: between the writes the old marker still leads to its own variant', ['by-language', 'accept-language'], ['by-both', 'accept-language, accept-encoding']],
  ]
  for (const [name, [oldBody, oldVary], [newBody, newVary]] of replacements) {
    it(name, async () => {
      // The old entry takes one put (two with Vary); the new one's marker is the put after its variant.
      const held = (oldVary ? 2 : 1) + 2
      const driven = await drivenCache({ held })
      const primary = `replace-${crypto.randomUUID()}`
      const headers = new Headers({ 'accept-language': 'en', 'accept-encoding': 'br' })
      await written(input(driven.cache, primary, oldBody, oldVary, headers))
      const writing = written(input(driven.cache, primary, newBody, newVary, headers))
      await waitFor(() => driven.puts() === held)
      expect(await bodyAt(driven.real, primary, headers)).toBe(oldBody)
      driven.release()
      await writing
      expect(await bodyAt(driven.real, primary, headers)).toBe(newBody)
    })
  }

  it('a variant write that fails writes no marker: the lookup is a miss, not a marker pointing at nothing', async () => {
    const driven = await drivenCache({ failing: 1 })
    const primary = `failed-${crypto.randomUUID()}`
    const { response, done } = store(input(driven.cache, primary, 'v1', 'accept-language', en))
    await response.body?.cancel()
    expect(await done).toEqual({ stored: false, reason: 'store-failed' })
    expect(driven.puts()).toBe(1)
    expect((await lookup(driven.real, ORIGIN, primary, en)).entry).toBeUndefined()
  })
})

describe("an origin's headers never pass for the cache's own bookkeeping", () => {
  it('an origin sending x-edgeway-cache-* names is stored and served as it answered, without them', async () => {
    const cache = await caches.open(`store-test-${crypto.randomUUID()}`)
    const primary = `forged-${crypto.randomUUID()}`
    const forged = input(cache, primary, 'the real body', undefined, new Headers())
    forged.response = new Response('the real body', {
      headers: {
        'content-type': 'text/plain',
        'x-edgeway-cache-variants': 'accept-language',
        'x-edgeway-cache-status': '500',
        'x-edgeway-cache-length': '3',
        'x-edgeway-cache-pins': 'sticky=evil',
        'x-edgeway-cache-cache-control': 'no-store',
      },
    })
    await written(forged)
    const found = await lookup(cache, ORIGIN, primary, new Headers())
    expect(found.entry?.variants).toBeUndefined()
    expect(found.entry?.pins).toEqual([])
    const response = found.entry!.response
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('the real body')
    expect([...response.headers.keys()].filter((name) => name.startsWith('x-edgeway-cache-'))).toEqual([])
    expect(response.headers.get('cache-control')).toBeNull()
  })
})
