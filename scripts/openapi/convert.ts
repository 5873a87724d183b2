/**
 * @module
 * OpenAPI 3.x -> gateway config (used by `npm run import:openapi`; runs in Node, never in the
 * worker). Each operation becomes a route that proxies to one upstream (the document's first
 * server, or `--upstream`), with a `validate` policy from its request body, query and header
 * parameters when it declares schemas. Component schemas a body refers to are copied into the
 * schema's own `$defs` (the gateway fetches no schemas), and OpenAPI 3.0's schema dialect is
 * turned into JSON Schema 2020-12 (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`).
 * Security schemes are not turned into policies (an issuer or key store is not in the document):
 * they are reported as notes, with the policy to add.
 */
type Obj = Record<string, any>

export type ImportOptions = {
  /** `name=url`, else the first server of the document. */
  upstream?: string
  /** Mount every path under this gateway prefix (stripped before the upstream). */
  prefix?: string
  /** The config's `$schema`: where edgeway.schema.json is, seen from the written file. */
  schema?: string
}

export type ImportResult = { config: any; notes: string[] }

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch']

const slug = (text: string) =>
  text
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+|-+$/g, '')
    .slice(0, 120) || 'op'

function pointer(doc: Obj, ref: string): unknown {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported, not "${ref}"`)
  return ref
    .slice(2)
    .split('/')
    .reduce<any>((node, token) => node?.[token.replaceAll('~1', '/').replaceAll('~0', '~')], doc)
}

/** Follows a `$ref` to a parameter, request body or response object. */
function deref(doc: Obj, value: Obj | undefined, seen = 0): Obj | undefined {
  if (value?.$ref === undefined) return value
  if (seen > 16) throw new Error(`reference loop at "${value.$ref}"`)
  return deref(doc, pointer(doc, value.$ref) as Obj, seen + 1)
}

/** An OpenAPI schema as a self-contained JSON Schema 2020-12 (component refs become `$defs`). */
function toJsonSchema(doc: Obj, schema: unknown, openapi30: boolean): Obj {
  const defs: Obj = {}
  const convert = (node: any): any => {
    if (Array.isArray(node)) return node.map(convert)
    if (node === null || typeof node !== 'object') return node
    const out: Obj = {}
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') {
        const name = value.startsWith('#/components/schemas/') ? value.slice('#/components/schemas/'.length) : undefined
        if (name === undefined) throw new Error(`unsupported schema reference "${value}"`)
        if (!(name in defs)) {
          defs[name] = true // placeholder, so a recursive schema stops here
          defs[name] = convert(pointer(doc, value))
        }
        out.$ref = `#/$defs/${name}`
      } else if (openapi30 && key === 'nullable') continue
      else if (openapi30 && (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'boolean') {
        const bound = key === 'exclusiveMinimum' ? 'minimum' : 'maximum'
        if (value && node[bound] !== undefined) out[key] = node[bound]
      } else if (key === 'example' || key === 'xml' || key === 'externalDocs' || key === 'discriminator') continue
      else out[key] = key === 'properties' || key === '$defs' ? Object.fromEntries(Object.entries(value as Obj).map(([k, v]) => [k, convert(v)])) : convert(value)
    }
    if (openapi30 && node.exclusiveMinimum === true) delete out.minimum
    if (openapi30 && node.exclusiveMaximum === true) delete out.maximum
    if (openapi30 && node.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null']
    return out
  }
  const result = convert(schema)
  return Object.keys(defs).length > 0 ? { ...result, $defs: { ...(result.$defs ?? {}), ...defs } } : result
}

function parseUpstream(doc: Obj, option: string | undefined): { name: string; url: string } {
  if (option !== undefined) {
    const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*)=(.+)$/.exec(option)
    if (!m) throw new Error(`--upstream must be name=url, not "${option}"`)
    return { name: m[1]!, url: m[2]! }
  }
  const server = doc.servers?.[0]
  if (!server?.url) throw new Error('the document has no servers: give the upstream with --upstream name=https://origin.example')
  const url = String(server.url).replace(/\{([^}]+)\}/g, (_, v: string) => server.variables?.[v]?.default ?? `{${v}}`)
  if (!/^https?:\/\//.test(url)) throw new Error(`servers[0].url "${url}" is not an absolute http(s) URL: give the upstream with --upstream name=url`)
  return { name: slug(doc.info?.title ?? 'api').toLowerCase(), url: url.replace(/\/+$/, '') }
}

export function importOpenApi(doc: Obj, options: ImportOptions = {}): ImportResult {
  if (typeof doc?.openapi !== 'string' || !/^3\.[01]\./.test(doc.openapi)) throw new Error('not an OpenAPI 3.0 or 3.1 document (no "openapi": "3.x.y")')
  const openapi30 = doc.openapi.startsWith('3.0.')
  const notes: string[] = []
  const upstream = parseUpstream(doc, options.upstream)
  const prefix = options.prefix?.replace(/\/+$/, '') ?? ''
  const routes: Obj[] = []
  const ids = new Set<string>()

  for (const [path, rawItem] of Object.entries((doc.paths ?? {}) as Obj)) {
    const item = deref(doc, rawItem as Obj) ?? {}
    // `{id}` -> `:id`; names outside [A-Za-z0-9_] get a safe name and the upstream path keeps the original.
    const renamed: string[] = []
    const pattern = path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const safe = name.replace(/[^A-Za-z0-9_]/g, '_')
      if (safe !== name) renamed.push(name)
      return `:${safe}`
    })
    for (const method of METHODS) {
      const op = item[method] as Obj | undefined
      if (!op) continue
      let id = slug(op.operationId ?? `${method}-${path}`)
      for (let n = 2; ids.has(id); n++) id = `${slug(op.operationId ?? `${method}-${path}`)}-${n}`
      ids.add(id)

      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: Obj) => deref(doc, p)!)
      const validate: Obj = { type: 'validate' }
      for (const where of ['query', 'header'] as const) {
        const list = params.filter((p) => p.in === where && p.schema)
        if (list.length === 0) continue
        validate[where === 'query' ? 'query' : 'headers'] = {
          type: 'object',
          properties: Object.fromEntries(list.map((p) => [where === 'header' ? p.name.toLowerCase() : p.name, toJsonSchema(doc, p.schema, openapi30)])),
          ...(list.some((p) => p.required) && { required: list.filter((p) => p.required).map((p) => (where === 'header' ? p.name.toLowerCase() : p.name)) }),
        }
      }
      const body = deref(doc, op.requestBody)
      const json = body?.content && Object.entries(body.content as Obj).find(([type]) => /^application\/([\w.-]+\+)?json\b/.test(type))?.[1]
      if (json?.schema) validate.body = toJsonSchema(doc, json.schema, openapi30)
      if (body && !json) notes.push(`${id}: the request body is not JSON (${Object.keys(body.content ?? {}).join(', ')}): not validated`)
      // OpenAPI's `requestBody.required` defaults to false; the validate policy has no optional body.
      if (body && json?.schema && body.required !== true) notes.push(`${id}: the request body is optional in the document, but the gateway's validate policy requires one`)

      const route: Obj = {
        id,
        ...((op.summary ?? op.description) && { description: String(op.summary ?? op.description).split('\n')[0] }),
        match: { path: prefix + pattern, methods: [method.toUpperCase()] },
        ...(Object.keys(validate).length > 1 && { policies: [validate] }),
        action: {
          type: 'proxy',
          upstream: upstream.name,
          ...(prefix && { stripPrefix: prefix }),
          ...(renamed.length > 0 && { path: path.replace(/\{([^}]+)\}/g, (_, n: string) => `{params.${n.replace(/[^A-Za-z0-9_]/g, '_')}}`) }),
        },
      }
      routes.push(route)
      if (op.deprecated) notes.push(`${id}: deprecated in the document (consider a deprecated "versioning" version)`)
      const security = op.security ?? doc.security
      if (security?.length) notes.push(`${id}: needs ${security.map((s: Obj) => Object.keys(s).join(' + ') || 'none').join(' or ')}: add a "jwt" or "api-key" policy`)
    }
  }
  for (const [name, scheme] of Object.entries((doc.components?.securitySchemes ?? {}) as Obj)) {
    const policy = scheme.type === 'apiKey' ? `{ "type": "api-key", "${scheme.in === 'query' ? 'query' : 'header'}": "${scheme.name}" }` : scheme.type === 'http' && scheme.scheme === 'bearer' ? '{ "type": "jwt", "issuers": [...] }' : 'a custom policy'
    notes.push(`security scheme "${name}" (${scheme.type}): the gateway equivalent is ${policy}`)
  }
  if (routes.length === 0) throw new Error('the document has no operations')
  return {
    config: {
      $schema: options.schema ?? './edgeway.schema.json',
      gateway: { name: slug(doc.info?.title ?? 'api').toLowerCase(), openapi: { title: doc.info?.title ?? 'API', version: String(doc.info?.version ?? '1.0.0') } },
      upstreams: { [upstream.name]: { url: upstream.url } },
      routes,
    },
    notes,
  }
}
