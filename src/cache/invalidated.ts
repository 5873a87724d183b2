/**
 * @module
 * The paths this isolate invalidated lately, and when. An unsafe request's invalidation deletes
 * the stored responses here before its client hears the answer; a GET to the same path sent
 * before that, whose origin answer arrives after it, would store the old representation again,
 * to be served until it expires (when the path's purge generation is bumped too, only until the
 * bump lands; past the isolate's budget of bumps, for its whole freshness). So a response whose
 * request was sent at or before an invalidation of its path is not stored (`detail=invalidated`).
 *
 * Per isolate: another isolate of the data centre with such a GET in flight still stores it, and
 * the path's generation (`../http-cache/generation`) is what reaches it. Bounded by the characters
 * held (paths are the clients'); when full it starts afresh, and a store of a request sent before
 * that is refused too, so forgetting never lets an old answer in.
 */

/** `origin\npath` -> when it was last invalidated (the runtime's `now()`). */
const invalidated = new Map<string, number>()
let heldChars = 0
const MAX_CHARS = 256 * 1024
/** When the record last started afresh: what was sent before may have been invalidated. */
let forgottenAt = -Infinity

/** Records that `path` (as the cache keys it) on `origin` was invalidated at `now`. */
export function recordInvalidation(origin: string, path: string, now: number): void {
  const key = `${origin}\n${path}`
  if (!invalidated.has(key)) {
    if (heldChars + key.length > MAX_CHARS) {
      invalidated.clear()
      heldChars = 0
      forgottenAt = now
    }
    heldChars += key.length
  }
  invalidated.set(key, now)
}

/** Whether `path` on `origin` was invalidated at or after `sentAt` (or may have been: see `forgottenAt`). */
export function invalidatedSince(origin: string, path: string, sentAt: number): boolean {
  if (sentAt <= forgottenAt) return true
  const at = invalidated.get(`${origin}\n${path}`)
  return at !== undefined && at >= sentAt
}
