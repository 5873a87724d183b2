/** The memo behind the repeated-token shortcuts (src/core/text-memo.ts): exact keys, bounded by characters held. */
import { describe, expect, it } from 'vitest'
import { TextMemo } from '../../src/core/text-memo'

describe('TextMemo', () => {
  it('answers only the exact text it was given, and starts afresh before holding more than maxChars', () => {
    const memo = new TextMemo<number>(10)
    memo.set('abcd', 1)
    memo.set('efgh', 2)
    expect([memo.get('abcd'), memo.get('efgh'), memo.get('abc'), memo.get('abcde')]).toEqual([1, 2, undefined, undefined])
    // Setting a held text again counts its characters once.
    memo.set('abcd', 3)
    expect(memo.get('efgh')).toBe(2)
    // 8 held + 4 > 10: everything goes, then the new one is held.
    memo.set('ijkl', 4)
    expect([memo.get('abcd'), memo.get('efgh'), memo.get('ijkl')]).toEqual([undefined, undefined, 4])
    // A text longer than the whole bound is never held, and evicts nothing.
    memo.set('x'.repeat(11), 5)
    expect([memo.get('x'.repeat(11)), memo.get('ijkl')]).toEqual([undefined, 4])
  })
})
