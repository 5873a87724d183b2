// Edgeway developer portal: renders the gateway's OpenAPI document (no framework, no external
// assets). Everything from the document is inserted as text, never as HTML.
import { el } from './dom.js'
import { curlFor, exampleBody, securityOf, describeScheme } from './calls.js'
import { tryIt } from './try-it.js'
import { startAccount } from './keys.js'

const METHODS = ['get', 'post', 'put', 'patch', 'delete', 'options', 'head']

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

function paramTable(params) {
  return el('table', {},
    el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'In'), el('th', {}, 'Required'), el('th', {}, 'Schema'))),
    el('tbody', {}, params.map((p) => el('tr', {},
      el('td', {}, el('code', {}, p.name)), el('td', {}, p.in), el('td', {}, p.required ? 'yes' : 'no'),
      el('td', {}, el('code', {}, JSON.stringify(p.schema || {})), p.description ? ` ${p.description}` : ''),
    ))),
  )
}

const jsonSchemaOf = (op) => op && op.requestBody && op.requestBody.content && op.requestBody.content['application/json'] && op.requestBody.content['application/json'].schema

/**
 * One entry: an operation, or a route that answers any method (its operations are marked
 * `x-edgeway-any-method`; OpenAPI has no "any" operation), shown once. `ops` maps each method the
 * entry may send to its operation; `op` is the first. `shared` is its API's description, shown
 * once under the API's heading: the document repeats a route's description on each operation.
 */
function operation(doc, base, path, method, ops, shared) {
  const op = ops.get(method)
  const any = ops.size > 1
  const label = any ? 'any' : method
  const ways = securityOf(doc, op)
  const bodyOf = (m) => {
    const schema = jsonSchemaOf(ops.get(m.toLowerCase()))
    return schema ? exampleBody(schema, doc) : undefined
  }
  const schema = jsonSchemaOf(op) || (any ? [...ops.values()].map(jsonSchemaOf).find(Boolean) : undefined)
  const facts = limitFacts(op)
  const variants = op['x-edgeway-variants'] || []
  const id = any ? op['x-edgeway-route'] : op.operationId || `${method} ${path}`
  const details = el('details', { class: 'op', 'data-op': id, 'data-search': `${any ? 'any ' + [...ops.keys()].join(' ') : method} ${path} ${op.summary || ''} ${(op.tags || []).join(' ')}`.toLowerCase() },
    el('summary', {},
      el('span', { class: `method ${label}`, title: any ? `Any method (${[...ops.keys()].join(', ').toUpperCase()})` : undefined }, label),
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
      any && el('p', { 'data-role': 'any-method' }, `Answers any method: ${[...ops.keys()].join(', ').toUpperCase()} and the rest reach the upstream, which decides.`),
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
      el('pre', { 'data-role': 'curl' }, curlFor(doc, base, method, path, op, bodyOf(method))),
      el('h3', {}, 'Try it'),
      tryIt(doc, path, op, [...ops.keys()].map((m) => m.toUpperCase()), bodyOf),
    ))
  })
  return details
}

/** A path's entries: one per operation, and one per route that answers any method. */
function entriesOf(path, item) {
  const entries = []
  const anyByRoute = new Map()
  for (const method of METHODS) {
    const op = item[method]
    if (!op) continue
    if (!op['x-edgeway-any-method']) {
      entries.push({ method, ops: new Map([[method, op]]) })
      continue
    }
    const route = op['x-edgeway-route']
    if (!anyByRoute.has(route)) {
      anyByRoute.set(route, new Map())
      entries.push({ method, ops: anyByRoute.get(route) })
    }
    anyByRoute.get(route).set(method, op)
  }
  return entries
}

function render(doc) {
  const base = doc.servers && doc.servers[0] && /^https?:/.test(doc.servers[0].url) ? doc.servers[0].url.replace(/\/$/, '') : location.origin
  const groups = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]))
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const { method, ops } of entriesOf(path, item)) {
      const op = ops.get(method)
      const tag = (op.tags && op.tags[0]) || 'default'
      if (!groups.has(tag)) groups.set(tag, { tag: { name: tag }, ops: [] })
      const group = groups.get(tag)
      group.ops.push(operation(doc, base, path, method, ops, group.tag.description))
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
    await startAccount(settings).catch((err) => { status.textContent = `Could not load your account: ${err.message}` })
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
