import { describe, expect, it } from 'vitest'
import { GatewayError } from '../../src/core/errors'
import { checkTemplate, patternParams } from '../../src/template/check'
import { parsePath } from '../../src/template/path'
import { REQUEST_TEMPLATE_ROOTS } from '../../src/template/scope'
import {
  compileJsonTemplate,
  compileTemplate,
  encodeForPath,
  checkHeaderValue,
  encodePathSegment,
  templateRoots,
} from '../../src/template/template'

const scope = {
  params: { id: '42', '*': 'a/b c/d' },
  query: new URLSearchParams('page=2&name=..%2Fadmin&dot=..&q=a%20b'),
  headers: new Headers({ 'x-user': 'ada', 'x-evil': 'ok' }),
  claims: { sub: 'u1', org: { id: 'o9' }, roles: ['admin', 'dev'], n: 3, flag: false },
  orders: { body: { items: [{ id: 1, lines: [{ sku: 'a' }, { sku: 'b' }] }, { id: 2, lines: [{ sku: 'c' }] }] } },
  request: { path: '/x/%C3%A9', search: '?a=1' },
}

const render = (source: string) => compileTemplate(source).render(scope)

describe('string templates', () => {
  it.each([
    ['/users/{params.id}', '/users/42'],
    ['Bearer {claims.sub}', 'Bearer u1'],
    ['{claims.org.id}-{headers.x-user}', 'o9-ada'],
    ['{claims.roles}', 'admin,dev'],
    ['{claims.roles[-1]}', 'dev'],
    ['{claims.org}', '{"id":"o9"}'],
    ['{claims.n} {claims.flag}', '3 false'],
    ['{orders.body.items[].id}', '1,2'],
    ['{orders.body.items[].lines[].sku}', 'a,b,c'],
    ['{query.page|1}', '2'],
    ['{query.missing|1}', '1'],
    ['{query.missing|}', ''],
    ['x{query.missing}y', 'xy'],
    ['{headers["x-user"]}', 'ada'],
    ['{{literal}} and {{{params.id}}}', '{literal} and {42}'],
    ['no expressions', 'no expressions'],
    ['{ params.id }', '42'],
    ['{claims.sub|fallback with spaces, commas}', 'u1'],
    ['{claims.none|fallback with spaces, commas}', 'fallback with spaces, commas'],
  ])('%s -> %s', (source, expected) => {
    expect(render(source)).toBe(expected)
  })

  it('a whole-value template keeps the value type; a mixed one is text', () => {
    expect(compileTemplate('{claims.n}').value(scope)).toBe(3)
    expect(compileTemplate('{claims.flag}').value(scope)).toBe(false)
    expect(compileTemplate('{claims.org}').value(scope)).toEqual({ id: 'o9' })
    expect(compileTemplate('{orders.body.items[].id}').value(scope)).toEqual([1, 2])
    expect(compileTemplate('{claims.none}').value(scope)).toBeUndefined()
    expect(compileTemplate('{claims.none|x}').value(scope)).toBe('x')
    expect(compileTemplate('n={claims.n}').value(scope)).toBe('n=3')
    expect(compileTemplate('{claims.n}').whole).toBe(true)
    expect(compileTemplate('{{claims.n}}').whole).toBe(false)
  })

  it('lists what it reads', () => {
    const template = compileTemplate('/{params.id}/{query.page|1}/{claims.org.id}')
    expect(template.refs.map((ref) => ref.source)).toEqual(['params.id', 'query.page', 'claims.org.id'])
    expect(templateRoots(template.refs)).toEqual(['params', 'query', 'claims'])
  })

  it.each([
    ['/users/{params.id', 'invalid template "/users/{params.id": unclosed "{"'],
    ['/users/params.id}', 'invalid template "/users/params.id}": unmatched "}" (write "}}" for a literal brace)'],
    ['{}', 'invalid template "{}": invalid path "": empty'],
    ['{a..b}', 'invalid template "{a..b}": invalid path "a..b": unexpected "."'],
    ['{items[x]}', 'invalid template "{items[x]}": invalid path "items[x]": "[x]" is neither an index, [] nor a quoted name'],
    ['{|fallback}', 'invalid template "{|fallback}": invalid path "": empty'],
  ])('syntax error %j', (source, message) => {
    expect(() => compileTemplate(source)).toThrow(message)
  })

  it('a quoted name may contain braces', () => {
    expect(compileTemplate('{h["a}b"]}').render({ h: { 'a}b': 'yes' } })).toBe('yes')
  })
})

describe('JSON templates', () => {
  it('renders every string inside, keeps types of whole values, drops missing members', () => {
    const template = compileJsonTemplate({
      id: '{params.id}',
      n: '{claims.n}',
      org: '{claims.org}',
      ids: '{orders.body.items[].id}',
      label: 'user {claims.sub}',
      missing: '{claims.none}',
      withFallback: '{claims.none|anon}',
      nested: { list: ['{claims.sub}', 1, true, null], literal: 'no template' },
      number: 5,
    })
    expect(template.render(scope)).toEqual({
      id: '42',
      n: 3,
      org: { id: 'o9' },
      ids: [1, 2],
      label: 'user u1',
      withFallback: 'anon',
      nested: { list: ['u1', 1, true, null], literal: 'no template' },
      number: 5,
    })
    expect(template.refs.map((ref) => ref.source).sort()).toEqual(
      ['claims.n', 'claims.none', 'claims.none', 'claims.org', 'claims.sub', 'claims.sub', 'orders.body.items[].id', 'params.id'].sort(),
    )
  })

  it('reports a syntax error in any string', () => {
    expect(() => compileJsonTemplate({ a: [{ b: 'x{y' }] })).toThrow('invalid template "x{y": unclosed "{"')
  })
})

describe('encoding substituted values', () => {
  const pathOf = (source: string, values: unknown) =>
    new URL(`http://upstream.test${compileTemplate(source).render(values, encodeForPath)}`).pathname

  it('a query or header value is one segment: "/" and ".." cannot add or remove segments', () => {
    expect(compileTemplate('/files/{query.name}').render(scope, encodeForPath)).toBe('/files/..%2Fadmin')
    expect(pathOf('/files/{query.name}', scope)).toBe('/files/..%2Fadmin')
    expect(pathOf('/files/{query.q}', scope)).toBe('/files/a%20b')
    expect(pathOf('/files/{v}', { v: '?x=1#f' })).toBe('/files/%3Fx%3D1%23f')
  })

  it('a value that is "." or ".." is refused with 400 (URL parsers resolve %2E%2E too)', () => {
    for (const value of ['.', '..']) {
      let error: unknown
      try {
        compileTemplate('/files/{v}').render({ v: value }, encodeForPath)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(GatewayError)
      expect((error as GatewayError).status).toBe(400)
    }
    expect(() => encodePathSegment('...')).not.toThrow()
    expect(encodePathSegment('...')).toBe('...')
  })

  it('route params keep their "/" (a wildcard tail) but each segment is encoded', () => {
    expect(compileTemplate('/v2/{params.*}').render(scope, encodeForPath)).toBe('/v2/a/b%20c/d')
    expect(compileTemplate('/v2/{params.id}').render(scope, encodeForPath)).toBe('/v2/42')
  })

  it('request.path and request.search are already URL text', () => {
    expect(compileTemplate('/p{request.path}{request.search}').render(scope, encodeForPath)).toBe('/p/x/%C3%A9?a=1')
  })

  it('literal text is not encoded', () => {
    expect(compileTemplate('/a b/{params.id}').render(scope, encodeForPath)).toBe('/a b/42')
  })

  it('header values outside visible ASCII, space and tab are refused (400): CR, LF, NUL, and non-ASCII text', () => {
    expect(checkHeaderValue('Bearer a.b\tc ~')).toBe('Bearer a.b\tc ~')
    for (const value of ['a\r\nSet-Cookie: x=1', 'a\0', 'Zoë', 'naïve \u{1F600}', '\x7f']) {
      expect(() => checkHeaderValue(compileTemplate('{v}').render({ v: value }))).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    }
  })
})

describe('template checks for validation', () => {
  it('names unknown roots and undeclared path params', () => {
    expect(checkTemplate('/{params.id}', REQUEST_TEMPLATE_ROOTS, ['id'])).toBeUndefined()
    expect(checkTemplate('/{param.id}', REQUEST_TEMPLATE_ROOTS, ['id'])).toBe(
      'unknown template variable "param" in "{param.id}" (known: params, query, headers, claims, consumer, request)',
    )
    expect(checkTemplate('/{params.userId}', REQUEST_TEMPLATE_ROOTS, ['id'])).toBe(
      'unknown path parameter "userId" (the route declares: id)',
    )
    expect(checkTemplate('/{params.x}', REQUEST_TEMPLATE_ROOTS, [])).toBe('unknown path parameter "x" (the route declares: none)')
    expect(checkTemplate('/{params.x', REQUEST_TEMPLATE_ROOTS, [])).toBe('invalid template "/{params.x": unclosed "{"')
  })

  it('reads the params a pattern declares', () => {
    expect(patternParams('/a/:id/:rest{.+}')).toEqual(['id', 'rest'])
    expect(patternParams('/files/*')).toEqual(['*'])
    expect(patternParams('/')).toEqual([])
  })

  it('parses a path once into steps', () => {
    expect(parsePath('a[0][]["b c"]').steps).toEqual([
      { kind: 'key', name: 'a' },
      { kind: 'index', index: 0 },
      { kind: 'each' },
      { kind: 'key', name: 'b c' },
    ])
  })
})
