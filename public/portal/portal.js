// Edgeway developer portal: renders the gateway's OpenAPI document (no framework, no external
// assets). Everything from the document is inserted as text, never as HTML.
'use strict'

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options', 'head']

/** el('div', { class: 'x' }, 'text', child) */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === false) continue
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value)
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) node.append(child instanceof Node ? child : String(child))
  return node
}

// Theme: the system's unless the visitor picked one (kept in localStorage).
const THEMES = ['auto', 'light', 'dark']
function applyTheme(theme) {
  if (theme === 'auto') document.documentElement.removeAttribute('data-theme')
  else document.documentElement.setAttribute('data-theme', theme)
  const button = document.getElementById('theme')
  button.textContent = theme === 'dark' ? '☾' : theme === 'light' ? '☀' : '◐'
  button.title = `Theme: ${theme} (click to change)`
}
function initTheme() {
  let theme = 'auto'
  try { theme = localStorage.getItem('edgeway-theme') || 'auto' } catch {}
  applyTheme(theme)
  document.getElementById('theme').addEventListener('click', () => {
    theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length]
    try { localStorage.setItem('edgeway-theme', theme) } catch {}
    applyTheme(theme)
  })
}

function securityOf(doc, op) {
  const schemes = (doc.components && doc.components.securitySchemes) || {}
  return (op.security || doc.security || []).map((requirement) =>
    Object.entries(requirement).map(([name, scopes]) => ({ name, scopes, scheme: schemes[name] || {} })),
  )
}

function describeScheme({ scheme, scopes }) {
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

// A limit key: ["consumer"] -> "per consumer"; { header } parts by name; the fallback after "else".
const keyParts = (key) => [].concat(key).map((p) => (p && typeof p === 'object' ? `header ${p.header}` : p)).join(' + ')
const perKey = (l) => (l.by ? ` per ${keyParts(l.by)}${l.fallback ? ` (else per ${keyParts(l.fallback)})` : ''}` : '')

function limitFacts(op) {
  const facts = []
  for (const l of op['x-ratelimit'] || []) facts.push(`Rate limit${l.name ? ` "${l.name}"` : ''}: ${l.limit} requests per ${l.window} s${perKey(l)}`)
  for (const q of op['x-quota'] || []) facts.push(`Quota${q.name ? ` "${q.name}"` : ''}: ${q.limit} requests per ${q.period}${perKey(q)}`)
  if (op['x-ratelimit-plans']) facts.push('Plus the limits of your plan')
  const access = op['x-edgeway-access']
  if (access) facts.push(`Only for ${[access.groups && `groups ${access.groups.join(', ')}`, access.plans && `plans ${access.plans.join(', ')}`].filter(Boolean).join(' or ')}`)
  if (op['x-max-body-bytes'] !== undefined) facts.push(`Request body up to ${op['x-max-body-bytes']} bytes`)
  return facts
}

function exampleValue(schema) {
  if (!schema || typeof schema !== 'object') return 'value'
  if (schema.example !== undefined) return schema.example
  if (schema.const !== undefined) return schema.const
  if (Array.isArray(schema.enum)) return schema.enum[0]
  const type = [].concat(schema.type || 'string')[0]
  if (type === 'integer' || type === 'number') return schema.minimum !== undefined ? schema.minimum : 1
  if (type === 'boolean') return true
  return 'value'
}

// The document's schemas reference `#/components/schemas/...`: a JSON pointer from the document's root.
const resolveRef = (doc, ref) =>
  ref.startsWith('#/') ? ref.slice(2).split('/').reduce((node, key) => node && node[decodeURIComponent(key).replace(/~1/g, '/').replace(/~0/g, '~')], doc) : undefined

function exampleBody(schema, doc, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 6) return null
  if (typeof schema.$ref === 'string') return exampleBody(resolveRef(doc, schema.$ref), doc, depth + 1)
  const type = [].concat(schema.type || (schema.properties ? 'object' : 'string'))[0]
  if (type === 'object') {
    const out = {}
    for (const [name, prop] of Object.entries(schema.properties || {})) if ((schema.required || []).includes(name) || depth === 0) out[name] = exampleBody(prop, doc, depth + 1)
    return out
  }
  if (type === 'array') return [exampleBody(schema.items, doc, depth + 1)]
  return exampleValue(schema)
}

const shellQuote = (text) => `'${String(text).replace(/'/g, `'\\''`)}'`

function curlFor(doc, base, method, path, op, body) {
  const lines = [`curl -i -X ${method.toUpperCase()} ${shellQuote(base + path.replace(/\{([^}]+)\}/g, (_, n) => String(exampleValue((op.parameters || []).find((p) => p.name === n)?.schema)).replace(/^value$/, n)))}`]
  for (const p of op.parameters || []) if (p.in === 'header' && p.required) lines.push(`-H ${shellQuote(`${p.name}: ${exampleValue(p.schema)}`)}`)
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

function paramTable(params) {
  return el('table', {},
    el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'In'), el('th', {}, 'Required'), el('th', {}, 'Schema'))),
    el('tbody', {}, params.map((p) => el('tr', {},
      el('td', {}, el('code', {}, p.name)), el('td', {}, p.in), el('td', {}, p.required ? 'yes' : 'no'),
      el('td', {}, el('code', {}, JSON.stringify(p.schema || {})), p.description ? ` ${p.description}` : ''),
    ))),
  )
}

/** The try-it console: fills the path, query and headers, sends the request, shows the response. */
function tryIt(doc, method, path, op, body) {
  const params = op.parameters || []
  const inputs = new Map()
  const fields = params.map((p) => {
    const input = el('input', { name: `${p.in}:${p.name}`, value: p.in === 'path' || p.required ? String(exampleValue(p.schema)).replace(/^value$/, '') : '', placeholder: p.required ? 'required' : 'optional' })
    inputs.set(p, input)
    return el('label', {}, `${p.name} (${p.in})`, input)
  })
  const ways = securityOf(doc, op)
  const first = ways[0] && ways[0][0]
  const credential = first ? el('input', { name: 'credential', placeholder: first.scheme.type === 'apiKey' ? 'API key' : first.scheme.scheme === 'basic' ? 'user:password' : 'token', autocomplete: 'off' }) : undefined
  const textarea = body !== undefined ? el('textarea', { name: 'body', spellcheck: 'false' }, JSON.stringify(body, null, 2)) : undefined
  const status = el('strong', { class: 'result-status', 'data-role': 'status' })
  const headersOut = el('pre', { 'data-role': 'headers', class: 'hidden' })
  const bodyOut = el('pre', { 'data-role': 'body', class: 'hidden' })
  const send = el('button', { type: 'submit', class: 'primary' }, 'Send')
  const form = el('form', { class: 'try', 'data-role': 'try' },
    fields,
    credential && el('label', {}, describeScheme(first), credential),
    textarea && el('label', {}, 'Body (JSON)', textarea),
    el('div', { class: 'row' }, send, status),
    headersOut, bodyOut,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    let url = path.replace(/\{([^}]+)\}/g, (_, name) => encodeURIComponent(inputs.get(params.find((p) => p.in === 'path' && p.name === name))?.value || ''))
    const query = new URLSearchParams()
    const headers = new Headers()
    for (const [p, input] of inputs) {
      if (!input.value || p.in === 'path') continue
      if (p.in === 'query') query.append(p.name, input.value)
      else if (p.in === 'header') headers.set(p.name, input.value)
    }
    if (credential && credential.value) {
      const s = first.scheme
      if (s.type === 'apiKey' && s.in === 'query') query.set(s.name, credential.value)
      else if (s.type === 'apiKey') headers.set(s.name, credential.value)
      // Typed as user:password, sent as UTF-8 (the gateway's challenge says charset="UTF-8").
      else if (s.type === 'http' && s.scheme === 'basic') headers.set('Authorization', `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(credential.value)))}`)
      else headers.set('Authorization', `Bearer ${credential.value}`)
    }
    if (textarea) headers.set('Content-Type', 'application/json')
    if ([...query].length) url += `?${query}`
    send.disabled = true
    status.textContent = 'Sending…'
    status.className = 'result-status'
    try {
      // Same origin: the portal is served by the gateway it documents.
      const res = await fetch(url, { method: method.toUpperCase(), headers, body: textarea ? textarea.value : undefined, redirect: 'manual' })
      // Read the whole body before showing anything: a new status beside the previous body would
      // pair one answer's status with another's body.
      let text = await res.text()
      try { text = JSON.stringify(JSON.parse(text), null, 2) } catch {}
      status.textContent = `${res.status} ${res.statusText}`.trim() || 'redirect (not followed)'
      status.className = `result-status ${res.ok ? 'ok' : 'err'}`
      headersOut.textContent = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')
      bodyOut.textContent = text
      headersOut.classList.remove('hidden')
      bodyOut.classList.remove('hidden')
    } catch (err) {
      status.textContent = `Request failed: ${err.message}`
      status.className = 'result-status err'
    } finally {
      send.disabled = false
    }
  })
  return form
}

/**
 * One operation. `shared` is its API's description, shown once under the API's heading: the
 * document repeats a route's description as the summary of each of its operations.
 */
function operation(doc, base, path, method, op, shared) {
  const ways = securityOf(doc, op)
  const schema = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'] && op.requestBody.content['application/json'].schema
  const body = schema ? exampleBody(schema, doc) : undefined
  const facts = limitFacts(op)
  const variants = op['x-edgeway-variants'] || []
  const details = el('details', { class: 'op', 'data-op': op.operationId || `${method} ${path}`, 'data-search': `${method} ${path} ${op.summary || ''} ${(op.tags || []).join(' ')}`.toLowerCase() },
    el('summary', {},
      el('span', { class: `method ${method}` }, method),
      el('span', { class: 'path' }, path),
      el('span', { class: 'summary' }, op.summary && op.summary !== shared ? op.summary : ''),
      op.deprecated && el('span', { class: 'badge deprecated' }, 'deprecated'),
      ways.length > 0 && el('span', { class: 'badge auth' }, 'auth'),
      facts.length > 0 && el('span', { class: 'badge' }, 'limits'),
    ),
  )
  let built = false
  details.addEventListener('toggle', () => {
    if (!details.open || built) return
    built = true
    details.append(el('div', { class: 'body' },
      op.description && op.description !== op.summary && op.description !== shared && el('p', {}, op.description),
      op.deprecated && el('p', { class: 'badge deprecated' }, `Deprecated${op['x-sunset'] ? `; removed after ${op['x-sunset']}` : ''}`),
      el('h3', {}, 'Authentication'),
      ways.length === 0 ? el('p', {}, 'None') : el('ul', { class: 'facts', 'data-role': 'auth' }, ways.map((all) => el('li', {}, all.map(describeScheme).join(' and ')))),
      facts.length > 0 && [el('h3', {}, 'Limits'), el('ul', { class: 'facts', 'data-role': 'limits' }, facts.map((f) => el('li', {}, f)))],
      op.parameters && op.parameters.length > 0 && [el('h3', {}, 'Parameters'), paramTable(op.parameters)],
      schema && [el('h3', {}, 'Request body (application/json)'), el('pre', {}, JSON.stringify(schema, null, 2))],
      op['x-edgeway-aggregate'] && [el('h3', {}, 'Aggregates'), el('ul', { class: 'facts' }, op['x-edgeway-aggregate'].calls.map((c) => el('li', {}, `${c.name} (${c.upstream})${c.required ? '' : ', optional'}`)))],
      variants.length > 0 && [el('h3', {}, 'Variants'), el('ul', { class: 'facts' }, variants.map((v) => el('li', {}, `${v.route} when ${JSON.stringify(v.when)}`)))],
      el('h3', {}, 'Example request'),
      el('pre', { 'data-role': 'curl' }, curlFor(doc, base, method, path, op, body)),
      el('h3', {}, 'Try it'),
      tryIt(doc, method, path, op, body),
    ))
  })
  return details
}

function render(doc) {
  const base = doc.servers && doc.servers[0] && /^https?:/.test(doc.servers[0].url) ? doc.servers[0].url.replace(/\/$/, '') : location.origin
  const groups = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]))
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method]
      if (!op) continue
      const tag = (op.tags && op.tags[0]) || 'default'
      if (!groups.has(tag)) groups.set(tag, { tag: { name: tag }, ops: [] })
      const group = groups.get(tag)
      group.ops.push(operation(doc, base, path, method, op, group.tag.description))
    }
  }
  const apis = document.getElementById('apis')
  const toc = document.getElementById('toc')
  for (const { tag, ops } of groups.values()) {
    if (ops.length === 0) continue
    const id = `api-${tag.name.replace(/[^A-Za-z0-9_-]/g, '-')}`
    toc.append(el('a', { href: `#${id}`, 'data-toc': tag.name }, tag.name))
    apis.append(el('section', { class: 'api', id, 'data-api': tag.name }, el('h2', {}, tag.name), tag.description && el('p', {}, tag.description), ops))
  }
}

async function start() {
  initTheme()
  const status = document.getElementById('status')
  try {
    const settings = await (await fetch('portal.json')).json()
    document.title = settings.title
    document.getElementById('title').textContent = settings.title
    document.getElementById('spec').href = settings.openapi
    const res = await fetch(settings.openapi, { headers: { accept: 'application/json' } })
    if (!res.ok) throw new Error(`the OpenAPI document answered ${res.status}`)
    const doc = await res.json()
    const info = doc.info || {}
    status.textContent = `${info.title || 'API'} ${info.version ? `v${info.version}` : ''}${info.description ? ` — ${info.description}` : ''}`
    render(doc)
  } catch (err) {
    status.textContent = `Could not load the API description: ${err.message}`
  }
  document.getElementById('filter').addEventListener('input', (event) => {
    const q = event.target.value.trim().toLowerCase()
    for (const op of document.querySelectorAll('.op')) op.classList.toggle('hidden', q !== '' && !op.dataset.search.includes(q))
    let shown = 0
    for (const api of document.querySelectorAll('.api')) {
      const empty = !api.querySelector('.op:not(.hidden)')
      api.classList.toggle('hidden', empty)
      document.querySelector(`[data-toc="${CSS.escape(api.dataset.api)}"]`)?.classList.toggle('hidden', empty)
      if (!empty) shown++
    }
    // Said, not just an empty page (a role="status" region: screen readers announce it too).
    document.getElementById('no-match').textContent = shown === 0 && q !== '' ? `No operations match "${event.target.value.trim()}".` : ''
  })
}

start()
