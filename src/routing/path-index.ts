/**
 * @module
 * The path patterns of every route, and which of them a request path matches, in the order they
 * were added, with their parameters: what Hono's `TrieRouter` answers, in a fraction of its memory.
 *
 * Why not the `TrieRouter` itself: a config of 26,000 routes made it hold about 40 MB (several
 * objects, arrays and closures per node and per route), and the live heap is what the garbage
 * collector walks in each full pause, which a hot reload (building the new config beside the old)
 * makes every request in flight wait for. Here a pattern made of literal segments, `:name`
 * parameters and a trailing `*` or `prefix*` is a path through a trie of small nodes, shared with
 * every pattern starting the same way; a route is a number in its last node's list. Patterns with
 * anything else (`:name{regex}`, optional `:name?`) go to a `TrieRouter` of their own, and the
 * two answers are merged by that number.
 *
 * Same answers as `TrieRouter` for these patterns (test/routing/path-index.fuzz.test.ts checks it
 * on generated ones), namely for a request path's segments (`/a/b/` is `a`, `b`, `''`):
 * - a literal segment matches itself, a parameter any non-empty segment;
 * - a pattern ending in `/*` matches wherever its part before the star does, and below it
 *   (`/files/*` matches `/files`, `/files/` and `/files/a/b`); `*` and `/*` match every path;
 * - a last segment `prefix*` matches a segment starting with `prefix`, whatever follows it.
 */
import { TrieRouter } from 'hono/router/trie-router'

/** One node: the segments that lead on from here, and the patterns that end here. */
class SegmentNode {
  /** The one literal segment leading on, while there is only one (most nodes of a large config). */
  key: string | undefined = undefined
  child: SegmentNode | undefined = undefined
  /** Every literal segment leading on, once there are several. */
  literals: Map<string, SegmentNode> | undefined = undefined
  /** Where a `:name` segment leads (one node whatever the name: the names are kept per pattern). */
  param: SegmentNode | undefined = undefined
  /** Patterns ending here: most nodes end one, which needs no array. */
  ends: number | number[] | undefined = undefined
  /** Patterns ending here with `/*`. */
  stars: number[] | undefined = undefined
  /** Patterns ending here with a segment `prefix*`: prefix, number, prefix, number... */
  prefixes: (string | number)[] | undefined = undefined

  next(segment: string): SegmentNode | undefined {
    return this.key === segment ? this.child : this.literals?.get(segment)
  }

  nextOrNew(segment: string): SegmentNode {
    const found = this.next(segment)
    if (found) return found
    const node = new SegmentNode()
    if (this.key === undefined && !this.literals) {
      this.key = segment
      this.child = node
    } else {
      this.literals ??= new Map([[this.key!, this.child!]])
      this.literals.set(segment, node)
      this.key = this.child = undefined
    }
    return node
  }
}

/** A matched pattern: the number it was added with, and the path's parameters. */
export type PathMatch = [entry: number, params: Record<string, string>]

const NO_PARAMS: readonly string[] = []
/** The parameters of every pattern without any: read only, so one object serves them all. */
const NO_VALUES: Record<string, string> = Object.freeze({}) as Record<string, string>

function endHere(node: SegmentNode, entry: number): void {
  const ends = node.ends
  if (ends === undefined) node.ends = entry
  else if (typeof ends === 'number') node.ends = [ends, entry]
  else ends.push(entry)
}

/**
 * Whether `TrieRouter` reads the pattern as more than literal segments, `:name` segments and a
 * trailing star: regex groups, an optional parameter (`checkOptionalParameter` in hono's url
 * utils), or a `*` anywhere but at the end (config checks refuse that; this keeps it exact anyway).
 */
function needsTrieRouter(pattern: string): boolean {
  const star = pattern.indexOf('*')
  return pattern.includes('{') || pattern.includes('}') || (pattern.endsWith('?') && pattern.includes(':')) || (star >= 0 && star < pattern.length - 1)
}

/** A pattern's segments as `TrieRouter` splits them (`splitPath`: a leading `/` is dropped). */
function segmentsOf(pattern: string): string[] {
  const segments = pattern.split('/')
  if (segments[0] === '') segments.shift()
  return segments
}

const isParam = (segment: string) => segment.length > 1 && segment.charCodeAt(0) === 58 /* : */

export class PathIndex {
  private readonly root = new SegmentNode()
  /** Each entry's parameter names, in path order (one shared array per distinct list). */
  private readonly names: (readonly string[])[] = []
  private readonly sharedNames = new Map<string, readonly string[]>()
  private complex: TrieRouter<number> | undefined

  /** Adds a pattern (already in `canonicalPattern` form) as `entry`; entries must be added in increasing order. */
  add(pattern: string, entry: number): void {
    if (needsTrieRouter(pattern)) {
      ;(this.complex ??= new TrieRouter<number>()).add('ALL', pattern, entry)
      // TrieRouter keeps these names itself; a slot all the same keeps the list without holes.
      this.names[entry] = NO_PARAMS
      return
    }
    const segments = segmentsOf(pattern)
    const last = segments.length - 1
    const names: string[] = []
    let node = this.root
    for (let i = 0; i < last; i++) {
      const segment = segments[i]!
      if (isParam(segment)) {
        node = node.param ??= new SegmentNode()
        names.push(segment.slice(1))
      } else node = node.nextOrNew(segment)
    }
    const end = segments[last]!
    // Lists are made with their first entry: `[]` then `push` would reserve room for 17.
    if (end === '*') {
      if (node.stars) node.stars.push(entry)
      else node.stars = [entry]
    } else if (isParam(end)) {
      node = node.param ??= new SegmentNode()
      names.push(end.slice(1))
      endHere(node, entry)
    } else if (end.endsWith('*')) {
      if (node.prefixes) node.prefixes.push(end.slice(0, -1), entry)
      else node.prefixes = [end.slice(0, -1), entry]
    } else endHere(node.nextOrNew(end), entry)
    this.names[entry] = this.shared(names)
  }

  private shared(names: string[]): readonly string[] {
    if (names.length === 0) return NO_PARAMS
    const key = names.join('/')
    let list = this.sharedNames.get(key)
    if (!list) this.sharedNames.set(key, (list = names))
    return list
  }

  /** Every pattern `path` (normalised, starting with `/`) matches, in entry order, with its parameters. */
  match(path: string): PathMatch[] {
    const parts = path.split('/')
    const found: PathMatch[] = []
    this.visit(this.root, parts, 1, [], found)
    if (this.complex) {
      const [more] = this.complex.match('ALL', path) as unknown as [[number, Record<string, string>][]]
      let previous = -1
      // TrieRouter may list an entry twice (a segment reached two ways); each copy has the same params.
      for (const [entry, params] of more) if (entry !== previous) found.push([(previous = entry), params])
    }
    if (found.length > 1) found.sort((a, b) => a[0] - b[0])
    return found
  }

  /** Collects the patterns matching below `node`, reached with `parts[1..i-1]` and the parameter values so far. */
  private visit(node: SegmentNode, parts: string[], i: number, values: string[], found: PathMatch[]): void {
    if (node.stars) for (const entry of node.stars) found.push([entry, this.params(entry, values)])
    if (i === parts.length) {
      const ends = node.ends
      if (typeof ends === 'number') found.push([ends, this.params(ends, values)])
      else if (ends) for (const entry of ends) found.push([entry, this.params(entry, values)])
      return
    }
    const part = parts[i]!
    const prefixes = node.prefixes
    if (prefixes) {
      for (let p = 0; p < prefixes.length; p += 2) if (part.startsWith(prefixes[p] as string)) found.push([prefixes[p + 1] as number, this.params(prefixes[p + 1] as number, values)])
    }
    const literal = node.next(part)
    if (literal) this.visit(literal, parts, i + 1, values, found)
    if (node.param && part !== '') {
      values.push(part)
      this.visit(node.param, parts, i + 1, values, found)
      values.pop()
    }
  }

  /** The entry's parameters; a name used twice keeps its first value, as in `TrieRouter`. */
  private params(entry: number, values: readonly string[]): Record<string, string> {
    const names = this.names[entry]!
    if (names.length === 0) return NO_VALUES
    const params: Record<string, string> = {}
    for (let n = 0; n < names.length; n++) if (!Object.hasOwn(params, names[n]!)) params[names[n]!] = values[n]!
    return params
  }
}
