// The demo's developer sign-in (`npm run dev`): config/demo.json's `gateway.portal.signIn` with the
// demo issuer (demo/issuer.mjs), offline. The gateway runs under wrangler dev as dev.mjs runs it
// (the demo config, a session secret of its own), but on free ports; the browser's part (redirects
// and cookies) is done by hand with fetch. The Chromium version is test/browser/portal-sign-in.test.mjs.
//
// Run: npm run test:scripts (or node --test test/scripts/demo-sign-in.test.mjs)
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { DEMO_DEVELOPER, startDemoIssuer } from '../../demo/issuer.mjs'
import { listenDemoOrigins } from '../../demo/origins.mjs'
import { freePort } from '../../scripts/lib.mjs'
import { startWranglerDev } from './wrangler-dev.mjs'

/** The demo origins and issuer on free ports, and the demo config under wrangler dev with fresh local state. */
async function startDemo() {
  const { usersPort, ordersPort, flakyPort, stop: stopOrigins } = await listenDemoOrigins()
  const issuerPort = await freePort()
  const stopIssuer = await startDemoIssuer({ port: issuerPort })
  const issuer = `http://127.0.0.1:${issuerPort}`
  const stopDemo = () => {
    stopOrigins()
    stopIssuer()
  }
  try {
    const gateway = await startWranglerDev({
      DEMO_ORIGIN: `http://127.0.0.1:${usersPort}`,
      DEMO_ORIGIN_B: `http://127.0.0.1:${ordersPort}`,
      DEMO_ORIGIN_FLAKY: `http://127.0.0.1:${flakyPort}`,
      DEMO_ISSUER: issuer,
      PORTAL_SESSION_SECRET: randomBytes(32).toString('base64url'),
    })
    return { url: gateway.url, issuer, stop: () => (gateway.stop(), stopDemo()) }
  } catch (err) {
    stopDemo()
    throw err
  }
}

/** `name=value` of a response's Set-Cookie `name`, as a browser would send it back. */
function cookieOf(res, name) {
  const line = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`))
  assert.ok(line, `no ${name} cookie in ${JSON.stringify(res.headers.getSetCookie())}`)
  return line.split(';')[0]
}

describe('the demo offers developer sign-in', () => {
  let demo
  before(async () => { demo = await startDemo() })
  after(() => demo?.stop())

  it('the demo issuer publishes an authorization code flow and /authorize answers with a code', async () => {
    const discovery = await (await fetch(`${demo.issuer}/.well-known/openid-configuration`)).json()
    assert.equal(discovery.authorization_endpoint, `${demo.issuer}/authorize`)
    assert.equal(discovery.token_endpoint, `${demo.issuer}/token`)
    const authorize = new URL(discovery.authorization_endpoint)
    for (const [k, v] of Object.entries({ response_type: 'code', client_id: 'c', redirect_uri: 'http://127.0.0.1/cb', scope: 'openid', state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })) {
      authorize.searchParams.set(k, v)
    }
    const res = await fetch(authorize, { redirect: 'manual' })
    assert.equal(res.status, 302)
    const back = new URL(res.headers.get('location'))
    assert.equal(back.searchParams.get('state'), 's')
    assert.match(back.searchParams.get('code') ?? '', /^[\w-]{16,}$/)
  })

  it('"Sign in" on the portal signs the demo developer in; their new key calls the api-key route', async () => {
    const page = await fetch(`${demo.url}/portal/`)
    assert.equal(page.status, 200)
    // The portal's sign-in: to the demo issuer and back, as a browser follows the redirects.
    const login = await fetch(`${demo.url}/portal/auth/login`, { redirect: 'manual' })
    assert.equal(login.status, 302, await login.text())
    assert.ok(login.headers.get('location').startsWith(`${demo.issuer}/authorize?`), login.headers.get('location'))
    const atIssuer = await fetch(login.headers.get('location'), { redirect: 'manual' })
    assert.equal(atIssuer.status, 302)
    const callback = atIssuer.headers.get('location')
    assert.ok(callback.startsWith(`${demo.url}/portal/auth/callback?`), callback)
    const loginCookie = login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const back = await fetch(callback, { redirect: 'manual', headers: { cookie: loginCookie } })
    assert.equal(back.status, 303, await back.text())
    const session = cookieOf(back, 'edgeway_portal')

    const me = await (await fetch(`${demo.url}/portal/auth/session`, { headers: { cookie: session } })).json()
    assert.equal(me.email, DEMO_DEVELOPER.email)
    assert.match(me.consumer, /^dev-[0-9a-f]{16}$/)
    const created = await fetch(`${demo.url}/portal/keys`, {
      method: 'POST',
      headers: { cookie: session, origin: demo.url, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'demo' }),
    })
    assert.equal(created.status, 201, await created.clone().text())
    const { key } = await created.json()
    const partner = await fetch(`${demo.url}/partner/orders`, { headers: { 'X-API-Key': key } })
    assert.equal(partner.status, 200)
  })
})
