/**
 * @module
 * What a pure function gave for texts seen lately, keyed by the text itself: clients send the same
 * credential request after request, and hashing or decoding it again each time showed in the
 * profiles (`npm run bench:cpu`). An exact match on the whole text, so no collision can lend one
 * text another's result. Bounded by the characters of the texts held, not by their number (a
 * token or a cache key's URL may be kilobytes, and clients choose them): each entry counts its
 * text plus `ENTRY_CHARS` for itself and its result, so many short texts are bounded too. Once
 * full it starts afresh, with no LRU bookkeeping on the hot path.
 */
export class TextMemo<T> {
  /** What an entry costs beside its text (the map's slot, a small result), in characters. */
  static readonly ENTRY_CHARS = 64
  private readonly results = new Map<string, T>()
  private chars = 0

  constructor(readonly maxChars: number) {}

  get(text: string): T | undefined {
    return this.results.get(text)
  }

  set(text: string, result: T): void {
    const cost = text.length + TextMemo.ENTRY_CHARS
    if (cost > this.maxChars) return
    if (!this.results.has(text)) {
      if (this.chars + cost > this.maxChars) {
        this.results.clear()
        this.chars = 0
      }
      this.chars += cost
    }
    this.results.set(text, result)
  }
}
