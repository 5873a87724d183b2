/**
 * A small body the proxy read whole is held by its response (`withHeldBody`): the cache's store
 * takes those bytes instead of reading the stream again, and the response goes to the client as
 * it is. What must never happen: a stored entry or a client answer with other bytes than the
 * response carries, e.g. after a policy made a new response with a new body from a held one.
 */
import { describe, expect, it } from 'vitest'
import { heldBody, withHeldBody } from '../../src/core/body'
import { lookup, storeBeforeAnswer, type StoreInput } from '../../src/http-cache/store'

const ORIGIN = 'http://held-body.test'

function input(cache: Cache, primary: string, response: Response): StoreInput {
  const now = Date.now()
  return {
    cache,
    origin: ORIGIN,
    primary,
    headers: new Headers(),
    now,
    response,
    freshness: { storedAt: now, ttl: 60, swr: 0, sie: 0 },
    maxBodyBytes: 1024,
    strip: [],
  }
}

/** A response as the proxy makes it: the bytes read whole, held by the response built around them. */
function proxied(text: string, headers: Record<string, string> = {}): Response {
  const bytes = new TextEncoder().encode(text).buffer as ArrayBuffer
  return withHeldBody(new Response(bytes, { headers: { 'content-type': 'application/json', ...headers } }), bytes)
}

async function storedText(cache: Cache, primary: string): Promise<string | undefined> {
  const found = await lookup(cache, ORIGIN, primary, new Headers())
  return found.entry ? found.entry.response.text() : undefined
}

describe('a body held by its response', () => {
  it('is stored from its bytes, and the same response, unread, goes to the client', async () => {
    const cache = await caches.open(`held-${crypto.randomUUID()}`)
    const primary = crypto.randomUUID()
    const origin = proxied('{"id":1,"name":"café"}')
    const written = await storeBeforeAnswer(input(cache, primary, origin), 64 * 1024)
    expect(written.outcome).toEqual({ stored: true })
    expect(written.response).toBe(origin)
    expect(await written.response.text()).toBe('{"id":1,"name":"café"}')
    expect(await storedText(cache, primary)).toBe('{"id":1,"name":"café"}')
  })

  it('is not held by a new response made from it: the store reads the new body', async () => {
    const cache = await caches.open(`held-${crypto.randomUUID()}`)
    const primary = crypto.randomUUID()
    const edited = new Response('{"edited":true}', proxied('{"original":true}'))
    expect(heldBody(edited)).toBeUndefined()
    const written = await storeBeforeAnswer(input(cache, primary, edited), 64 * 1024)
    expect(written.outcome).toEqual({ stored: true })
    expect(await written.response.text()).toBe('{"edited":true}')
    expect(await storedText(cache, primary)).toBe('{"edited":true}')
  })

  it('is forgotten once the body has been read', async () => {
    const origin = proxied('{"id":2}')
    expect(heldBody(origin)).toBeInstanceOf(ArrayBuffer)
    await origin.text()
    expect(heldBody(origin)).toBeUndefined()
  })

  it('over the size the store awaits, is stored in the background from the stream, as any other', async () => {
    const cache = await caches.open(`held-${crypto.randomUUID()}`)
    const primary = crypto.randomUUID()
    const text = 'x'.repeat(600)
    const written = await storeBeforeAnswer(input(cache, primary, proxied(text, { 'content-length': '600' })), 100)
    expect(written.outcome).toBeUndefined()
    expect(await written.response.text()).toBe(text)
    expect(await written.done).toEqual({ stored: true })
    expect(await storedText(cache, primary)).toBe(text)
  })
})
