// The developer's own API keys, when the portal offers signing in (portal.json `signIn`): sign in
// with the gateway's OpenID Connect issuer, then create, roll and revoke keys. A new key is shown
// once, right after it is made; the list shows only prefixes.
import { el } from './dom.js'

async function call(method, path, body) {
  const res = await fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined })
  const data = res.status === 204 ? null : await res.json().catch(() => null)
  if (!res.ok) throw new Error((data && data.detail) || `${res.status} ${res.statusText}`)
  return data
}

const when = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '')

function keyRow(key, act) {
  const live = key.status === 'active'
  return el('tr', { 'data-key': key.id },
    el('td', {}, key.name || '—'), el('td', {}, el('code', {}, key.prefix)), el('td', { 'data-role': 'key-status' }, key.status),
    el('td', {}, when(key.createdAt), key.expiresAt && live ? el('br') : '', key.expiresAt && live ? `expires ${when(key.expiresAt)}` : ''),
    el('td', { class: 'actions' }, live && [
      el('button', { type: 'button', onclick: () => act('POST', `keys/${key.id}/roll`, `Rolled ${key.prefix}: the old key works for a while beside the new one.`) }, 'Roll'),
      el('button', { type: 'button', onclick: () => act('DELETE', `keys/${key.id}`, `Revoked ${key.prefix}.`) }, 'Revoke'),
    ]),
  )
}

function showNewKey(box, key, note) {
  box.replaceChildren(
    el('p', {}, note || 'Your new key. It is shown only now: copy it somewhere safe.'),
    el('pre', { 'data-role': 'new-key' }, key.key),
  )
}

async function renderAccount(section, session) {
  const message = el('p', { role: 'status', 'data-role': 'account-status' })
  const newKey = el('div', { 'data-role': 'new-key-box' })
  const list = el('tbody')
  const name = el('input', { name: 'key-name', maxlength: '200', placeholder: 'e.g. ci' })
  const refresh = async () => {
    const { keys } = await call('GET', 'keys')
    list.replaceChildren(...keys.map((k) => keyRow(k, act)))
    if (keys.length === 0) list.append(el('tr', {}, el('td', { colspan: '5' }, 'No keys yet.')))
  }
  const act = async (method, path, done, body) => {
    try {
      const result = await call(method, path, body)
      if (result && result.key) showNewKey(newKey, result, done)
      else { newKey.replaceChildren(); message.textContent = done }
      if (result && result.key) message.textContent = ''
      await refresh()
    } catch (err) {
      message.textContent = err.message
    }
  }
  const create = el('form', { class: 'row', 'data-role': 'create-key', onsubmit: (event) => {
    event.preventDefault()
    act('POST', 'keys', undefined, name.value.trim() ? { name: name.value.trim() } : {})
    name.value = ''
  } }, el('label', {}, 'Key name ', name), el('button', { type: 'submit', class: 'primary', disabled: !session.approved }, 'Create key'))
  section.replaceChildren(...[
    el('h2', { id: 'keys-title' }, 'Your API keys'),
    el('p', {}, `Signed in as ${session.email || session.consumer}; your keys call the API as consumer `, el('code', {}, session.consumer), session.plan ? ` (plan ${session.plan}).` : '.'),
    !session.approved && el('p', { class: 'badge deprecated' }, 'Your account is waiting for an admin\'s approval; you can create keys once it is approved.'),
    create, message, newKey,
    el('table', { 'data-role': 'keys' }, el('thead', {}, el('tr', {}, ['Name', 'Prefix', 'Status', 'Created', 'Actions'].map((h) => el('th', {}, h)))), list),
  ].filter(Boolean))
  await refresh()
}

/** Adds "Sign in" (or the developer's keys and "Sign out") when the portal offers signing in. */
export async function startAccount(settings) {
  if (!settings.signIn) return
  const actions = document.querySelector('.top-actions')
  const res = await fetch('auth/session', { headers: { accept: 'application/json' } })
  if (res.status === 401) {
    actions.prepend(el('a', { id: 'sign-in', class: 'button', href: 'auth/login' }, 'Sign in'))
    return
  }
  if (!res.ok) return
  const session = await res.json()
  actions.prepend(el('button', { id: 'sign-out', type: 'button', onclick: async () => {
    await fetch('auth/logout', { method: 'POST' })
    location.reload()
  } }, 'Sign out'))
  const section = el('section', { id: 'keys', class: 'account', 'aria-labelledby': 'keys-title', tabindex: '-1' })
  document.getElementById('main').prepend(section)
  await renderAccount(section, session)
}
