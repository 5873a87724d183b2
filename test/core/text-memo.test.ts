/** The memo behind the repeated-token and cache-key shortcuts (src/core/text-memo.ts): exact keys, bounded by characters held. */
import { describe, expect, it } from 'vitest'
import { TextMemo } from '../../src/core/text-memo'

const ENTRY = TextMemo.ENTRY_CHARS

describe('TextMemo', () => {
  it('answers only the exact text it was given, and starts afresh before holding more than maxChars', () => {
    // Room for two 4-character texts with their entries, not three.
    const memo = new TextMemo<number>(2 * (4 + ENTRY) + 1)
    memo.set('abcd', 1)
    memo.set('efgh', 2)
    expect([memo.get('abcd'), memo.get('efgh'), memo.get('abc'), memo.get('abcde')]).toEqual([1, 2, undefined, undefined])
    // Setting a held text again counts its characters once.
    memo.set('abcd', 3)
    expect(memo.get('efgh')).toBe(2)
    // A third entry would pass the bound: everything goes, then the new one is held.
    memo.set('ijkl', 4)
    expect([memo.get('abcd'), memo.get('efgh'), memo.get('ijkl')]).toEqual([undefined, undefined, 4])
    // A text longer than the whole bound is never held, and evicts nothing.
    memo.set('x'.repeat(2 * (4 + ENTRY)), 5)
    expect([memo.get('x'.repeat(2 * (4 + ENTRY))), memo.get('ijkl')]).toEqual([undefined, 4])
  })

  it('bounds many short texts by their entries, not only their characters', () => {
    const memo = new TextMemo<number>(10 * ENTRY)
    for (let i = 0; i < 100; i++) memo.set(String(i % 10), i)
    // Ten one-character texts fit; the eleventh distinct one would not, whatever their length.
    memo.set('x', -1)
    expect([memo.get('x'), memo.get('0')]).toEqual([-1, undefined])
  })
})
