/**
 * @module
 * `validate` schemas as the document publishes them. A schema may reference its own parts
 * (`"$ref": "#/$defs/tag"`, which the `validate` policy allows); copied as is into the document,
 * such a reference would point at the document's root, where nothing of the kind is. So the
 * schema's `$defs` (and draft-07 `definitions`) move to `components/schemas`, named
 * `<route>.<part>.<definition>`, and the references follow them. A reference to any other part
 * of the schema (`"#"`, `"#/properties/a"`) needs the whole schema in the document: it is then
 * published as `components/schemas/<route>.<part>` and used by reference.
 */
type Obj = Record<string, any>

/** Values that are data, not schemas: a `$ref` key inside them is not a reference. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'example'])
const DEFINITION_MAPS = ['$defs', 'definitions']
const COMPONENTS = '#/components/schemas/'

const isObject = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value)

/** `~1` and `~0` (RFC 6901), after the fragment's percent-decoding. */
function decodeSegment(segment: string): string {
  let text = segment
  try {
    text = decodeURIComponent(segment)
  } catch {
    // Not percent-encoded text: taken as written.
  }
  return text.replaceAll('~1', '/').replaceAll('~0', '~')
}

/** A copy of `value` with every schema `$ref` string passed through `rewrite`. */
function mapRefs(value: unknown, rewrite: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => mapRefs(item, rewrite))
  if (!isObject(value)) return value
  const out: Obj = {}
  for (const [key, item] of Object.entries(value)) {
    if (key === '$ref' && typeof item === 'string') out[key] = rewrite(item)
    else out[key] = DATA_KEYWORDS.has(key) ? item : mapRefs(item, rewrite)
  }
  return out
}

/** The registry of `components/schemas`, and `publish`, which returns a schema as the document carries it. */
export function schemaComponents() {
  const schemas: Obj = {}
  const claim = (wanted: string, schema: unknown) => {
    const base = wanted.replace(/[^A-Za-z0-9._-]/g, '_')
    let name = base
    for (let n = 2; Object.hasOwn(schemas, name); n++) name = `${base}_${n}`
    schemas[name] = schema
    return name
  }

  /**
   * `schema` (a `validate` schema) with its definitions moved out, named after `owner`
   * (`orders.body`): `schema` to use where a schema goes, `inline` the schema's own text with its
   * references rewritten (for its properties, which become parameters).
   */
  const publish = (schema: unknown, owner: string): { schema: unknown; inline: unknown } => {
    if (!isObject(schema)) return { schema, inline: schema }
    const rest: Obj = { ...schema }
    // Each definition's new name, by the map it sat in and its name there.
    const moved = new Map<string, string>()
    const definitions: [string, unknown][] = []
    for (const map of DEFINITION_MAPS) {
      if (!isObject(rest[map])) continue
      for (const [name, definition] of Object.entries(rest[map] as Obj)) {
        const component = claim(`${owner}.${name}`, undefined)
        moved.set(`${map}/${name}`, component)
        definitions.push([component, definition])
      }
      delete rest[map]
    }
    // Claimed on the first reference to the rest of the schema, which is then published whole.
    let root: string | undefined
    const rewrite = (ref: string): string => {
      if (ref !== '#' && !ref.startsWith('#/')) return ref
      const [map, name, ...tail] = ref.slice(2).split('/')
      const component = map !== undefined && name !== undefined ? moved.get(`${map}/${decodeSegment(name)}`) : undefined
      if (component !== undefined) return [`${COMPONENTS}${component}`, ...tail].join('/')
      root ??= claim(owner, undefined)
      return `${COMPONENTS}${root}${ref.slice(1)}`
    }
    for (const [component, definition] of definitions) schemas[component] = mapRefs(definition, rewrite)
    const inline = mapRefs(rest, rewrite)
    if (root === undefined) return { schema: inline, inline }
    schemas[root] = inline
    return { schema: { $ref: `${COMPONENTS}${root}` }, inline }
  }
  return { schemas, publish }
}
