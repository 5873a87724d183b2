/**
 * @module
 * Identical parts of routes, held once. A validated route is a tree of plain objects and arrays
 * with its defaults filled in, and most of it repeats from route to route: the same methods, the
 * same policy with the same options, the same action to the same upstream. A config of 26,619
 * routes held 44 MB of such trees in Node (about 14 MB in workerd), and during a hot reload two
 * configs are live at once: workerd's V8 marks the whole heap in one pause (about 1.4 ms per MB),
 * so a full collection then held every request for 40 ms and more (issue 22). Sharing each distinct
 * subtree once (hash-consing) brings that config to 9 MB in Node.
 *
 * A route's options are read, never written, after validation: a write to a shared part would
 * change every route that holds it. The whole suite was run with every shared part frozen to
 * find such writes (the JSON Schema library marked the schemas it was given: it gets a copy now).
 * They are not frozen here: valibot's output may be the caller's own objects (the config a
 * project hands to `createWorker`), and freezing those would surprise it.
 */

/**
 * The instance kept for each key; the token of each subtree already done (a part may appear twice
 * in the input). A kept instance's token is a number (`#12`), so a parent's key names its parts
 * by number rather than spelling them out: keys stay short however deep a route is.
 */
type Seen = { byKey: Map<string, [object, string]>; done: WeakMap<object, string | undefined> }

const isPlainObject = (value: object) => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * The instance to keep for the subtree (the first one seen with its key: an exact rendering,
 * type-tagged, keys in order, its parts by token) and the subtree's token. Anything but JSON-like values (a class
 * instance, a function, a non-finite number) makes the subtree, and those above it, its own.
 */
function share(value: unknown, seen: Seen): [unknown, string | undefined] {
  switch (typeof value) {
    case 'string':
      return [value, JSON.stringify(value)]
    case 'number':
      return [value, Number.isFinite(value) && !Object.is(value, -0) ? String(value) : undefined]
    case 'boolean':
      return [value, value ? 't' : 'f']
    case 'undefined':
      return [value, 'u']
    case 'object': {
      if (value === null) return [value, 'n']
      if (seen.done.has(value)) return [value, seen.done.get(value)]
      let key: string | undefined
      if (Array.isArray(value)) {
        const parts: string[] = []
        let complete = true
        for (let i = 0; i < value.length; i++) {
          const [item, itemKey] = share(value[i], seen)
          value[i] = item
          if (itemKey === undefined) complete = false
          else parts.push(itemKey)
        }
        key = complete ? `[${parts.join(',')}]` : undefined
      } else if (isPlainObject(value)) {
        const record = value as Record<string, unknown>
        const parts: string[] = []
        let complete = true
        for (const name of Object.keys(record)) {
          const [item, itemKey] = share(record[name], seen)
          record[name] = item
          if (itemKey === undefined) complete = false
          else parts.push(`${JSON.stringify(name)}:${itemKey}`)
        }
        key = complete ? `{${parts.join(',')}}` : undefined
      }
      if (key === undefined) {
        seen.done.set(value, undefined)
        return [value, undefined]
      }
      let kept = seen.byKey.get(key)
      if (!kept) seen.byKey.set(key, (kept = [value, `#${seen.byKey.size}`]))
      seen.done.set(value, kept[1])
      return kept
    }
    default:
      return [value, undefined]
  }
}

/**
 * A sharer for one config: each call shares the identical parts of a slice of its routes
 * (everything but each route's own object and id) with those of every slice before. Called on
 * each slice as it is validated, so the copies a slice repeats die young (a cheap collection)
 * instead of living, with the whole unshared config, until the end of a reload.
 */
export function routePartSharer(): (routes: Record<string, unknown>[]) => void {
  const seen: Seen = { byKey: new Map(), done: new WeakMap() }
  return (routes) => {
    for (const route of routes) {
      for (const name of Object.keys(route)) if (name !== 'id') route[name] = share(route[name], seen)[0]
    }
  }
}
