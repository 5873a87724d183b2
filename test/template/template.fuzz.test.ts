/**
 * Property tests of the template engine (src/template/template.ts): any value substituted into a
 * header stays one header line, into a path stays one segment; any template text either compiles
 * or fails with a TemplateSyntaxError, and a compiled template renders any scope without throwing.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/core/errors'
import { checkHeaderValue, compileTemplate, encodeForPath, TemplateSyntaxError } from '../../src/template/template'
import { fuzzOptions } from '../support/fuzz'

/** Values with the characters that break headers and paths, mixed into arbitrary text. */
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.array(fc.constantFrom('\r', '\n', '\0', '\r\n', '/', '\\', '.', '..', '%2f', '%2e', '?', '#', ' ', 'é', 'a', 'Set-Cookie: x=1'), { maxLength: 6 }).map((parts) => parts.join('')),
)
const jsonish = fc.oneof(nasty, fc.integer(), fc.boolean(), fc.constant(null), fc.array(nasty, { maxLength: 3 }), fc.dictionary(nasty, nasty, { maxKeys: 2 }))

/** A scope for `/v2/{query.id}/x`-style templates, with random values where the template reads. */
const scopeWith = (value: unknown) => ({
  params: { id: value, '*': value },
  query: new URLSearchParams(typeof value === 'string' ? { id: value } : {}),
  headers: new Headers(),
  claims: { sub: value },
})

describe('templates, fuzzed', () => {
  it('a rendered header value is visible ASCII, space and tab, or refused with a 400; the platform accepts every one it lets through', () => {
    const template = compileTemplate('Bearer {claims.sub|anonymous}; id={query.id}')
    fc.assert(
      fc.property(jsonish, (value) => {
        const out = template.render(scopeWith(value))
        if (/[^\t\u0020-\u007e]/.test(out)) {
          expect(() => checkHeaderValue(out)).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
          return
        }
        expect(checkHeaderValue(out)).toBe(out)
        expect(() => new Headers({ 'x-test': out })).not.toThrow()
      }),
      fuzzOptions(2000),
    )
  })

  it('a value rendered into a path is one segment: the parsed URL has the template\'s shape', () => {
    const template = compileTemplate('/v2/{claims.sub}/x')
    fc.assert(
      fc.property(jsonish, (value) => {
        let rendered: string
        try {
          rendered = template.render(scopeWith(value), encodeForPath)
        } catch (err) {
          // `.` and `..` have no safe encoding: refused with a 400, never passed on.
          expect(err).toBeInstanceOf(GatewayError)
          expect((err as GatewayError).code).toBe('ERR_BAD_REQUEST')
          return
        }
        const url = new URL(`http://origin.test${rendered}`)
        const segments = url.pathname.split('/')
        expect(segments.length).toBe(4)
        expect([segments[1], segments[3]]).toEqual(['v2', 'x'])
        expect(url.search).toBe('')
        expect(url.hash).toBe('')
      }),
      fuzzOptions(2000),
    )
  })

  it('route params keep their slashes but never add a dot segment or leave the prefix', () => {
    const template = compileTemplate('/v2/{params.*}')
    fc.assert(
      fc.property(fc.array(nasty, { minLength: 1, maxLength: 4 }), (parts) => {
        let rendered: string
        try {
          rendered = template.render({ params: { '*': parts.join('/') } }, encodeForPath)
        } catch (err) {
          expect((err as GatewayError).code).toBe('ERR_BAD_REQUEST')
          return
        }
        const url = new URL(`http://origin.test${rendered}`)
        expect(url.pathname.startsWith('/v2/')).toBe(true)
        expect(url.pathname.split('/').length).toBe(parts.join('/').split('/').length + 2)
        expect(url.search + url.hash).toBe('')
      }),
      fuzzOptions(2000),
    )
  })

  it('any template text compiles or fails with TemplateSyntaxError; a compiled one renders anything', () => {
    const source = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.array(fc.constantFrom('{', '}', '{{', '}}', '|', '[', ']', '"', "'", '.', '[]', '[-1]', 'params', 'claims', 'a', 'x-y', ' '), { maxLength: 12 }).map((p) => p.join('')),
    )
    fc.assert(
      fc.property(source, jsonish, (text, value) => {
        let template
        try {
          template = compileTemplate(text)
        } catch (err) {
          expect(err).toBeInstanceOf(TemplateSyntaxError)
          return
        }
        const scope = { params: value, query: value, claims: { a: value, params: value }, headers: new Headers() }
        expect(typeof template.render(scope)).toBe('string')
        template.value(scope)
      }),
      fuzzOptions(2000),
    )
  })
})
