// Developer sign-in and self-service keys, end to end in Chromium: the demo gateway with
// `gateway.portal.signIn` (test/browser/portal-sign-in-worker.ts) under wrangler dev, signing in
// with the local issuer's authorization code flow (test/node/issuer.ts, started here).
//
//   node --test test/browser/portal-sign-in.test.mjs
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { build } from 'esbuild'
import { assertEveryLook, newContext } from './a11y.mjs'
import { ARTIFACTS, launchChromium, startDemoGateway } from './support.mjs'

let issuer
let gateway
let browser
let built

/** test/node/issuer.ts, bundled for Node (this runner doesn't load TypeScript). */
async function startLocalIssuer() {
  built = mkdtempSync(join(tmpdir(), 'edgeway-issuer-'))
  const file = join(built, 'issuer.mjs')
  await build({ entryPoints: ['test/node/issuer.ts'], bundle: true, platform: 'node', format: 'esm', outfile: file, logLevel: 'silent' })
  const { startIssuer } = await import(pathToFileURL(file).href)
  return startIssuer()
}

before(async () => {
  issuer = await startLocalIssuer()
  const tenant = `browser-${randomBytes(4).toString('hex')}`
  await fetch(`${issuer.url}/t/${tenant}/_control/user`, { method: 'PUT', body: JSON.stringify({ sub: 'lin', email: 'lin@example.com' }) })
  gateway = await startDemoGateway({
    ready: '/portal/portal.json',
    script: 'test/browser/portal-sign-in-worker.ts',
    vars: { PORTAL_ISSUER: `${issuer.url}/t/${tenant}`, PORTAL_SESSION_SECRET: randomBytes(32).toString('base64url') },
  })
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  gateway?.stop()
  await issuer?.close()
  if (built) rmSync(built, { recursive: true, force: true })
})

describe('portal sign-in and self-service keys', () => {
  it('signs in with the issuer, creates a key shown once that calls the API, rolls and revokes it', async () => {
    const context = await newContext(browser)
    const page = await context.newPage()
    const errors = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(`${gateway.url}/portal/`)
    await page.locator('[data-api]').first().waitFor()
    // Sign in: to the issuer and back, without a login page (the local issuer signs its user in at once).
    await Promise.all([page.waitForURL(`${gateway.url}/portal/#keys`), page.getByRole('link', { name: 'Sign in' }).click()])
    await page.locator('[data-role="keys"]').waitFor()
    assert.match(await page.locator('#keys').innerText(), /^Your API keys\n+Signed in as lin@example\.com; your keys call the API as consumer dev-[0-9a-f]{16}\.\n+Key name/)
    const cookies = await context.cookies()
    const session = cookies.find((c) => c.name === 'edgeway_portal')
    assert.ok(session, `cookies: ${cookies.map((c) => c.name)}`)
    assert.deepEqual([session.httpOnly, session.secure, session.sameSite, session.path], [true, true, 'Lax', '/portal'])
    assert.equal(await page.evaluate(() => document.cookie), '', 'no script can read the session')

    // Create: the key is shown once and opens the demo's api-key route.
    await page.getByLabel('Key name').fill('laptop')
    await page.getByRole('button', { name: 'Create key' }).click()
    const shown = (await page.locator('[data-role="new-key"]').textContent()).trim()
    assert.match(shown, /^ewk_[0-9a-f]{12}_/)
    const partner = (key) => fetch(`${gateway.url}/partner/orders`, { headers: { 'X-API-Key': key } }).then((r) => r.status)
    assert.equal(await partner(shown), 200)
    const row = page.locator('[data-role="keys"] tbody tr', { hasText: 'laptop' })
    assert.equal(await row.locator('[data-role="key-status"]').textContent(), 'active')
    await assertEveryLook(page, 'portal signed in, a new key shown')
    await page.screenshot({ path: join(ARTIFACTS, 'portal-keys.png'), fullPage: true })
    // Shown once: after a reload only the prefix is on the page.
    await page.reload()
    await page.locator('[data-role="keys"] tbody tr', { hasText: 'laptop' }).first().waitFor()
    assert.ok(!(await page.content()).includes(shown), 'the key is not shown again')

    // Roll: a new key; the old one keeps working through the overlap. Revoke: the new one stops.
    await page.locator('[data-role="keys"] tbody tr', { hasText: 'active' }).getByRole('button', { name: 'Roll' }).click()
    const rolled = (await page.locator('[data-role="new-key"]').textContent()).trim()
    assert.notEqual(rolled, shown)
    assert.equal(await partner(rolled), 200)
    assert.equal(await partner(shown), 200)
    const prefix = rolled.split('_').slice(0, 2).join('_')
    const rolledRow = page.locator('[data-role="keys"] tbody tr', { hasText: prefix })
    await rolledRow.getByRole('button', { name: 'Revoke' }).click()
    await rolledRow.locator('[data-role="key-status"]', { hasText: 'revoked' }).waitFor()
    assert.equal(await page.locator('[data-role="account-status"]').textContent(), `Revoked ${prefix}.`)
    assert.equal(await partner(rolled), 401)

    // Sign out: the session is gone, the link is back.
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByRole('link', { name: 'Sign in' }).waitFor()
    assert.equal((await context.cookies()).filter((c) => c.name === 'edgeway_portal').length, 0)
    assert.deepEqual(errors, [])
    await context.close()
  })

  it('the keys endpoints refuse a visitor who is not signed in', async () => {
    const res = await fetch(`${gateway.url}/portal/keys`)
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
  })
})
