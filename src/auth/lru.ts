/**
 * @module
 * A map holding at most `maxEntries`, dropping the least recently used entry when full: the
 * per-isolate caches of `auth/` (verified token signatures, API key records) stay bounded however
 * many distinct credentials clients send. A `Map` keeps insertion order, so "used" is "deleted
 * and set again", and the oldest entry is the first key.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>()

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new Error(`LruMap: maxEntries must be a positive integer (got ${maxEntries})`)
  }

  get size(): number {
    return this.entries.size
  }

  /** The entry, now the most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }

  set(key: K, value: V): void {
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as K)
    this.entries.set(key, value)
  }

  delete(key: K): void {
    this.entries.delete(key)
  }
}
