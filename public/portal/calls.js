// How to call an operation: its credentials, example values and the example curl command.

export function securityOf(doc, op) {
  const schemes = (doc.components && doc.components.securitySchemes) || {}
  return (op.security || doc.security || []).map((requirement) =>
    Object.entries(requirement).map(([name, scopes]) => ({ name, scopes, scheme: schemes[name] || {} })),
  )
}

export function describeScheme({ scheme, scopes }) {
  let text
  if (scheme.type === 'http' && scheme.scheme === 'bearer') text = `Bearer ${scheme.bearerFormat || 'token'} (Authorization header)`
  else if (scheme.type === 'http' && scheme.scheme === 'basic') text = 'HTTP Basic: user name and password (Authorization header)'
  else if (scheme.type === 'apiKey' && scheme['x-covered-components']) text = 'HTTP message signature (Signature-Input and Signature headers)'
  else if (scheme.type === 'apiKey') text = `API key in ${scheme.in} "${scheme.name}"`
  else if (scheme.type === 'mutualTLS') text = 'Client certificate (mutual TLS)'
  else text = scheme.type || 'unknown'
  if (scheme.description) text += ` — ${scheme.description}`
  if (scopes && scopes.length) text += `; scopes: ${scopes.join(', ')}`
  return text
}

/** A value the schema gives (`example`, `examples`, `const`, `enum`, `default`), else undefined. */
function givenValue(schema) {
  if (!schema || typeof schema !== 'object') return undefined
  if (schema.example !== undefined) return schema.example
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0]
  if (schema.const !== undefined) return schema.const
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  return schema.default
}

/** A made-up value of the schema's type that its `pattern` accepts; ids look like ids. */
function madeUpValue(schema, name = '') {
  const type = [].concat((schema && schema.type) || 'string')[0]
  if (type === 'integer' || type === 'number') return schema.minimum !== undefined ? schema.minimum : 1
  if (type === 'boolean') return true
  const accepts = (text) => {
    if (!schema || !schema.pattern) return true
    try { return new RegExp(schema.pattern, 'u').test(text) } catch { return false }
  }
  const candidates = /id$/i.test(name) ? ['1', 'example', 'a', 'A', '0'] : ['example', '1', 'a', 'A', '0']
  return candidates.find(accepts) ?? 'example'
}

/**
 * A parameter's example: the one the document gives (the parameter's or its schema's), else a
 * sample of its type. `given` says which, so the try-it console fills in only real examples.
 */
export function sampleOf(param) {
  const given = param.example !== undefined ? param.example : givenValue(param.schema)
  return given !== undefined ? { value: String(given), given: true } : { value: String(madeUpValue(param.schema, param.name)), given: false }
}

// The document's schemas reference `#/components/schemas/...`: a JSON pointer from the document's root.
const resolveRef = (doc, ref) =>
  ref.startsWith('#/') ? ref.slice(2).split('/').reduce((node, key) => node && node[decodeURIComponent(key).replace(/~1/g, '/').replace(/~0/g, '~')], doc) : undefined

export function exampleBody(schema, doc, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 6) return null
  if (typeof schema.$ref === 'string') return exampleBody(resolveRef(doc, schema.$ref), doc, depth + 1)
  const given = givenValue(schema)
  if (given !== undefined) return given
  const type = [].concat(schema.type || (schema.properties ? 'object' : 'string'))[0]
  if (type === 'object') {
    const out = {}
    for (const [name, prop] of Object.entries(schema.properties || {})) if ((schema.required || []).includes(name) || depth === 0) out[name] = exampleBody(prop, doc, depth + 1)
    return out
  }
  if (type === 'array') return [exampleBody(schema.items, doc, depth + 1)]
  return madeUpValue(schema)
}

const shellQuote = (text) => `'${String(text).replace(/'/g, `'\\''`)}'`

/** The operation's path with each `{name}` filled by `valueOf(param)`. */
export function fillPath(path, op, valueOf) {
  return path.replace(/\{([^}]+)\}/g, (_, name) => valueOf((op.parameters || []).find((p) => p.in === 'path' && p.name === name) || { name }))
}

export function curlFor(doc, base, method, path, op, body) {
  const url = fillPath(path, op, (p) => encodeURIComponent(sampleOf(p).value))
  const lines = [`curl -i -X ${method.toUpperCase()} ${shellQuote(base + url)}`]
  for (const p of op.parameters || []) if (p.in === 'header' && p.required) lines.push(`-H ${shellQuote(`${p.name}: ${sampleOf(p).value}`)}`)
  const ways = op.security || []
  const first = ways[0] && Object.keys(ways[0])[0]
  const scheme = first !== undefined && ((doc.components || {}).securitySchemes || {})[first]
  if (scheme && scheme['x-covered-components']) lines.push('-H "Signature-Input: $SIGNATURE_INPUT"', '-H "Signature: $SIGNATURE"')
  else if (scheme && scheme.type === 'apiKey' && scheme.in === 'header') lines.push(`-H "${scheme.name}: $API_KEY"`)
  else if (scheme && scheme.type === 'http' && scheme.scheme === 'basic') lines.push('-u "$USER:$PASSWORD"')
  else if (scheme && scheme.type === 'http') lines.push('-H "Authorization: Bearer $TOKEN"')
  else if (scheme && scheme.type === 'mutualTLS') lines.push('--cert client.pem --key client-key.pem')
  if (body !== undefined) lines.push(`-H 'Content-Type: application/json'`, `--data ${shellQuote(JSON.stringify(body))}`)
  return lines.join(' \\\n  ')
}
