/** The bounded map behind the auth caches (src/auth/lru.ts): never over its size, oldest unused out first. */
import { describe, expect, it } from 'vitest'
import { LruMap } from '../../src/auth/lru'

describe('LruMap', () => {
  it('holds at most maxEntries, dropping the least recently used (a read counts as a use)', () => {
    const map = new LruMap<string, number>(3)
    for (const [i, key] of ['a', 'b', 'c'].entries()) map.set(key, i)
    expect(map.get('a')).toBe(0)
    map.set('d', 3)
    expect([map.size, map.get('b'), map.get('a'), map.get('c'), map.get('d')]).toEqual([3, undefined, 0, 2, 3])
    map.set('c', 20)
    map.set('e', 4)
    expect([map.get('a'), map.get('c'), map.get('e')]).toEqual([undefined, 20, 4])
    map.delete('c')
    expect([map.size, map.get('c')]).toEqual([2, undefined])
  })

  it('refuses a size that is not a positive integer', () => {
    expect(() => new LruMap(0)).toThrow('LruMap: maxEntries must be a positive integer (got 0)')
  })
})
