/**
 * Property tests of path normalisation (src/routing/normalize.ts): whatever a client sends, the
 * result is canonical, and no spelling of a path reaches a route its normalised form would not.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/core/errors'
import { normalizePath } from '../../src/routing/normalize'
import { testGateway } from '../support/gateway'
import { fuzzOptions } from '../support/fuzz'

/** Segments chosen to hit the rules: dot segments in every spelling, escapes good and bad, raw bytes. */
const TRICKY = [
  '', '.', '..', '%2e', '%2E', '%2e%2e', '.%2e', '%2E.', 'admin', 'public', '%61dmin', 'ADMIN', 'a', '~', '%7e', '%7E',
  '%2f', '%2F', '%5c', '\\', ';x', 'a;b', '%3b', '%25', '%252f', '%', '%z1', '%4', 'é', '%c3%a9', '%C3%A9', '%C0%AE',
  '%ff', '%00', '%0a', '\u0000', '\n', '%20', ' ', '"', '<', '{', '😀', '%F0%9F%98%80', '?', '#', 'x y',
]
const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
)
const rawPath = fc.array(segment, { minLength: 1, maxLength: 8 }).map((segments) => `/${segments.join('/')}`)

/** Normalises, giving the result or the rejection's code (never any other kind of error). */
function outcome(raw: string): { path: string } | { code: string } {
  try {
    return { path: normalizePath(raw) }
  } catch (err) {
    if (err instanceof GatewayError) return { code: err.code }
    throw err
  }
}

const PCHAR_OR_ESCAPE = /^(?:[A-Za-z0-9\-._~!$&'()*+,=:@]|%[0-9A-F]{2})*$/

describe('normalizePath, fuzzed', () => {
  it('accepts with a canonical path or rejects with ERR_BAD_REQUEST_PATH, nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(rawPath, fc.string({ unit: 'binary', maxLength: 40 })), (raw) => {
        const result = outcome(raw)
        if ('code' in result) {
          expect(result.code).toBe('ERR_BAD_REQUEST_PATH')
          return
        }
        const { path } = result
        expect(path.startsWith('/')).toBe(true)
        const segments = path.slice(1).split('/')
        segments.forEach((s, i) => {
          expect(PCHAR_OR_ESCAPE.test(s), `segment ${JSON.stringify(s)} of ${path}`).toBe(true)
          expect(s === '.' || s === '..').toBe(false)
          if (i < segments.length - 1) expect(s).not.toBe('')
          // Nothing left for a second decoding to turn into a separator or a dot segment.
          expect(/%(?:2F|5C|2E)/i.test(s)).toBe(false)
        })
        // Canonical: normalising again changes nothing.
        expect(normalizePath(path)).toBe(path)
      }),
      fuzzOptions(2000),
    )
  })

  it('a URL parser leaves the normalised path as it is (the origin gets the path the route was chosen by)', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const result = outcome(raw)
        if ('code' in result) return
        // `fetch` to the origin parses the URL again: it must not resolve, decode or re-encode anything.
        expect(new URL(`http://origin.test${result.path}`).pathname).toBe(result.path)
      }),
      fuzzOptions(2000),
    )
  })
})

describe('routing by the normalised path, fuzzed', () => {
  const gw = testGateway({
    routes: [
      { id: 'admin', match: { path: '/admin/*' }, action: { type: 'respond', body: { route: 'admin', path: '{request.path}' } } },
      { id: 'public', match: { path: '/public/*' }, action: { type: 'respond', body: { route: 'public', path: '{request.path}' } } },
      { id: 'exact', match: { path: '/a' }, action: { type: 'respond', body: { route: 'exact', path: '{request.path}' } } },
    ],
  })
  const answer = async (path: string) => {
    const res = await gw.fetch(`http://gateway.test${path}`)
    const body = (await res.json()) as { route?: string; path?: string; code?: string }
    return { status: res.status, route: body.route, path: body.path, code: body.code }
  }

  it('a request reaches exactly the route (and path) its normalised form reaches', async () => {
    await fc.assert(
      fc.asyncProperty(rawPath, async (raw) => {
        // What a client can put on the wire: the request line carries no raw `?`/`#` in the path.
        const wire = raw.replaceAll('?', '%3F').replaceAll('#', '%23')
        let url: string
        try {
          url = new Request(`http://gateway.test${wire}?`).url
        } catch {
          return // no client could send it
        }
        const got = await answer(new URL(url).pathname)
        expect(got.status).toBeLessThan(500)
        if (got.status === 400) {
          expect(got.code).toBe('ERR_BAD_REQUEST_PATH')
          return
        }
        const normal = outcome(new URL(url).pathname)
        if ('code' in normal) throw new Error(`the gateway accepted ${wire}, normalizePath rejects it`)
        expect(await answer(normal.path)).toEqual(got)
        if (got.route) expect(got.path).toBe(normal.path)
      }),
      fuzzOptions(300),
    )
  })
})
