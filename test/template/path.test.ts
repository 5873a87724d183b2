import { describe, expect, it } from 'vitest'
import { deletePath, getPath, parsePath, pathRoot, setPath } from '../../src/template/path'

const get = (value: unknown, source: string) => getPath(value, parsePath(source))

const data = {
  user: { id: 7, name: 'Ada', tags: ['a', 'b', 'c'] },
  items: [
    { id: 1, parts: [{ sku: 'x' }, { sku: 'y' }] },
    { id: 2, parts: [{ sku: 'z' }] },
    { id: 3 },
  ],
  'x-user id': 'spaced',
  'a]b': 'bracket',
  zero: 0,
  empty: '',
  nothing: null,
}

describe('path expressions: reading', () => {
  it.each([
    ['user.id', 7],
    ['user.name', 'Ada'],
    ['user.tags[0]', 'a'],
    ['user.tags[2]', 'c'],
    ['user.tags[-1]', 'c'],
    ['user.tags[-3]', 'a'],
    ['items[1].id', 2],
    ['items[-1].id', 3],
    ['items[].id', [1, 2, 3]],
    ['items[].parts[].sku', ['x', 'y', 'z']],
    ['items[0].parts[].sku', ['x', 'y']],
    ['["x-user id"]', 'spaced'],
    ["['x-user id']", 'spaced'],
    ['["a]b"]', 'bracket'],
    ['zero', 0],
    ['empty', ''],
    ['nothing', null],
  ])('%s', (source, expected) => {
    expect(get(data, source)).toEqual(expected)
  })

  it.each(['user.missing', 'user.tags[3]', 'user.tags[-4]', 'user.id.deeper', 'items[9].id', 'user[0]', 'user.tags.length', 'user.__proto__', 'constructor', 'user.toString'])(
    'missing: %s is undefined',
    (source) => {
      expect(get(data, source)).toBeUndefined()
    },
  )

  it('[] on a non-array is undefined; [] skips elements missing the rest of the path', () => {
    expect(get(data, 'user[]')).toBeUndefined()
    expect(get(data, 'items[].parts[0].sku')).toEqual(['x', 'z'])
  })

  it('reads Headers (case-insensitive) and URLSearchParams (first value) by name', () => {
    const scope = { headers: new Headers({ 'X-User': 'u1' }), query: new URLSearchParams('a=1&a=2&b=') }
    expect(get(scope, 'headers.x-user')).toBe('u1')
    expect(get(scope, 'headers.X-USER')).toBe('u1')
    expect(get(scope, 'headers.absent')).toBeUndefined()
    expect(get(scope, 'query.a')).toBe('1')
    expect(get(scope, 'query.b')).toBe('')
    expect(get(scope, 'query.c')).toBeUndefined()
  })

  it('names the root', () => {
    expect(pathRoot(parsePath('params.*'))).toBe('params')
    expect(pathRoot(parsePath('orders.body.items[].id'))).toBe('orders')
  })
})

describe('path expressions: syntax errors', () => {
  it.each([
    ['', 'invalid path "": empty'],
    ['a.', 'invalid path "a.": ends with "."'],
    ['a..b', 'invalid path "a..b": unexpected "."'],
    ['.a', 'invalid path ".a": unexpected "."'],
    ['a[0', 'invalid path "a[0": missing "]"'],
    ['a[x]', 'invalid path "a[x]": "[x]" is neither an index, [] nor a quoted name'],
    ['a[1.5]', 'invalid path "a[1.5]": "[1.5]" is neither an index, [] nor a quoted name'],
    ['a b', 'invalid path "a b": unexpected " "'],
    ['a[0]b', 'invalid path "a[0]b": unexpected "b"'],
    ['a["b]', 'invalid path "a["b]": unclosed quote'],
  ])('%j', (source, message) => {
    expect(() => parsePath(source)).toThrow(message)
  })
})

describe('setPath', () => {
  it('writes, creating objects and arrays on the way', () => {
    const target: Record<string, unknown> = {}
    expect(setPath(target, parsePath('a.b.c'), 1)).toBe(true)
    expect(setPath(target, parsePath('list[1].name'), 'n')).toBe(true)
    expect(setPath(target, parsePath('["x y"]'), true)).toBe(true)
    expect(target).toEqual({ a: { b: { c: 1 } }, list: [undefined, { name: 'n' }], 'x y': true })
  })

  it('writes at negative indexes and into every element through []', () => {
    const target = { items: [{ id: 1 }, { id: 2 }], tags: ['a', 'b'] }
    expect(setPath(target, parsePath('items[].seen'), true)).toBe(true)
    expect(setPath(target, parsePath('tags[-1]'), 'z')).toBe(true)
    expect(target).toEqual({ items: [{ id: 1, seen: true }, { id: 2, seen: true }], tags: ['a', 'z'] })
    const nested = { a: [{ b: [{}, {}] }, { b: [{}] }] }
    expect(setPath(nested, parsePath('a[].b[].c'), 0)).toBe(true)
    expect(nested).toEqual({ a: [{ b: [{ c: 0 }, { c: 0 }] }, { b: [{ c: 0 }] }] })
  })

  it('refuses to write through a non-container or out of range', () => {
    const target = { s: 'text', list: [1] }
    expect(setPath(target, parsePath('s.x'), 1)).toBe(false)
    expect(setPath(target, parsePath('list[-2]'), 1)).toBe(false)
    expect(setPath(target, parsePath('list.x'), 1)).toBe(false)
    expect(setPath('scalar', parsePath('a'), 1)).toBe(false)
    expect(target).toEqual({ s: 'text', list: [1] })
  })

  it.each(['__proto__.polluted', 'a.__proto__.polluted', 'constructor.prototype.polluted', '["__proto__"].polluted', 'items[].__proto__.polluted'])(
    'refuses the prototype-pollution path %s',
    (source) => {
      const target = { a: {}, items: [{}] }
      expect(setPath(target, parsePath(source), 'yes')).toBe(false)
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
      expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined()
    },
  )
})

describe('deletePath', () => {
  it('removes keys, indexes (negative too) and through []', () => {
    const target = { a: { b: 1, c: 2 }, list: [1, 2, 3], items: [{ id: 1, secret: 'x' }, { id: 2, secret: 'y' }, { id: 3 }] }
    expect(deletePath(target, parsePath('a.b'))).toBe(true)
    expect(deletePath(target, parsePath('list[-1]'))).toBe(true)
    expect(deletePath(target, parsePath('items[].secret'))).toBe(true)
    expect(target).toEqual({ a: { c: 2 }, list: [1, 2], items: [{ id: 1 }, { id: 2 }, { id: 3 }] })
  })

  it('reports nothing removed for missing paths and never touches prototypes', () => {
    const target = { a: { b: 1 }, list: [1] }
    expect(deletePath(target, parsePath('a.x'))).toBe(false)
    expect(deletePath(target, parsePath('list[5]'))).toBe(false)
    expect(deletePath(target, parsePath('a.b.c'))).toBe(false)
    expect(deletePath(target, parsePath('a.toString'))).toBe(false)
    expect(deletePath(target, parsePath('__proto__.hasOwnProperty'))).toBe(false)
    expect(typeof Object.prototype.hasOwnProperty).toBe('function')
    expect(target).toEqual({ a: { b: 1 }, list: [1] })
  })

  it('[] at the end empties the array', () => {
    const target = { list: [1, 2] }
    expect(deletePath(target, parsePath('list[]'))).toBe(true)
    expect(target.list).toEqual([])
  })
})
