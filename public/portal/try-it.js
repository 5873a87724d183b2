// The try-it console: fills the path, query and headers, sends the request, shows the response.
// Required fields block Send with a message: a request with an empty path segment would reach
// another route, or none ("No route matches"), and say nothing about this operation.
import { el } from './dom.js'
import { describeScheme, fillPath, sampleOf, securityOf } from './calls.js'

const NO_BODY = new Set(['GET', 'HEAD'])

/** The credential the first security requirement asks for, set on the request. */
function applyCredential(scheme, value, query, headers) {
  if (scheme.type === 'apiKey' && scheme.in === 'query') query.set(scheme.name, value)
  else if (scheme.type === 'apiKey') headers.set(scheme.name, value)
  // Typed as user:password, sent as UTF-8 (the gateway's challenge says charset="UTF-8").
  else if (scheme.type === 'http' && scheme.scheme === 'basic') headers.set('Authorization', `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(value)))}`)
  else headers.set('Authorization', `Bearer ${value}`)
}

function paramField(p) {
  const sample = sampleOf(p)
  const input = el('input', {
    name: `${p.in}:${p.name}`,
    value: sample.given ? sample.value : '',
    placeholder: `${p.required ? 'required' : 'optional'}, e.g. ${sample.value}`,
    required: p.required || p.in === 'path',
    'aria-required': p.required || p.in === 'path' ? 'true' : undefined,
  })
  return { input, label: el('label', {}, `${p.name} (${p.in})${p.required ? ' *' : ''}`, input) }
}

/** Inputs left empty that the request needs; marked invalid (and only those). */
function missingFields(inputs, textarea, bodyRequired) {
  const missing = []
  for (const [p, input] of inputs) {
    const empty = (p.required || p.in === 'path') && input.value.trim() === ''
    input.setAttribute('aria-invalid', String(empty))
    if (empty) missing.push({ input, name: `${p.name} (${p.in})` })
  }
  if (textarea && bodyRequired && !textarea.classList.contains('hidden')) {
    const empty = textarea.value.trim() === ''
    textarea.setAttribute('aria-invalid', String(empty))
    if (empty) missing.push({ input: textarea, name: 'the body' })
  }
  return missing
}

/**
 * `methods`: the methods the console may send (one, or several for a route that answers any);
 * `bodyOf(method)`: the example body for that method, or undefined when it takes none.
 */
export function tryIt(doc, path, op, methods, bodyOf) {
  const params = op.parameters || []
  const inputs = new Map()
  const fields = params.map((p) => {
    const { input, label } = paramField(p)
    inputs.set(p, input)
    return label
  })
  const chooser = methods.length > 1 ? el('select', { name: 'method' }, methods.map((m) => el('option', { value: m }, m))) : undefined
  const methodNow = () => (chooser ? chooser.value : methods[0])
  const ways = securityOf(doc, op)
  const first = ways[0] && ways[0][0]
  const credential = first ? el('input', { name: 'credential', placeholder: first.scheme.type === 'apiKey' ? 'API key' : first.scheme.scheme === 'basic' ? 'user:password' : 'token', autocomplete: 'off' }) : undefined
  const anyBody = methods.some((m) => bodyOf(m) !== undefined) || methods.length > 1
  const textarea = anyBody ? el('textarea', { name: 'body', spellcheck: 'false' }) : undefined
  const bodyLabel = textarea && el('label', {}, 'Body (JSON)', textarea)
  const showBody = () => {
    if (!textarea) return
    const example = bodyOf(methodNow())
    textarea.value = example !== undefined ? JSON.stringify(example, null, 2) : ''
    bodyLabel.classList.toggle('hidden', NO_BODY.has(methodNow()))
  }
  chooser?.addEventListener('change', showBody)
  showBody()
  const status = el('strong', { class: 'result-status', 'data-role': 'status', role: 'status' })
  const headersOut = el('pre', { 'data-role': 'headers', class: 'hidden' })
  const bodyOut = el('pre', { 'data-role': 'body', class: 'hidden' })
  const send = el('button', { type: 'submit', class: 'primary' }, 'Send')
  const form = el('form', { class: 'try', 'data-role': 'try', novalidate: true },
    chooser && el('label', {}, 'Method', chooser),
    fields,
    credential && el('label', {}, describeScheme(first), credential),
    bodyLabel,
    el('div', { class: 'row' }, send, status),
    headersOut, bodyOut,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const method = methodNow()
    const body = textarea && !NO_BODY.has(method) && textarea.value.trim() !== '' ? textarea.value : undefined
    const missing = missingFields(inputs, textarea, op.requestBody?.required && bodyOf(method) !== undefined)
    if (missing.length > 0) {
      status.textContent = `Fill in ${missing.map((m) => m.name).join(', ')}: required before sending.`
      status.className = 'result-status err'
      missing[0].input.focus()
      return
    }
    let url = fillPath(path, op, (p) => encodeURIComponent(inputs.get(p)?.value.trim() || ''))
    const query = new URLSearchParams()
    const headers = new Headers()
    for (const [p, input] of inputs) {
      if (!input.value || p.in === 'path') continue
      if (p.in === 'query') query.append(p.name, input.value)
      else if (p.in === 'header') headers.set(p.name, input.value)
    }
    if (credential && credential.value) applyCredential(first.scheme, credential.value, query, headers)
    if (body !== undefined) headers.set('Content-Type', 'application/json')
    if ([...query].length) url += `?${query}`
    send.disabled = true
    status.textContent = 'Sending…'
    status.className = 'result-status'
    try {
      // Same origin: the portal is served by the gateway it documents.
      const res = await fetch(url, { method, headers, body, redirect: 'manual' })
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
