// The developer portal in a real browser: headless Debian Chromium driven by playwright-core.
//
//   npm run test:browser          starts its own gateway: wrangler dev on a free port with the demo
//                                 config (static assets included) and the demo origins
//   EDGEWAY_URL=http://127.0.0.1:8787 node --test test/browser/portal.test.mjs
//                                 uses a gateway that is already running (npm run dev)
//
// Needs /usr/bin/chromium (apt-get install chromium). Screenshots go to test-artifacts/ (git-ignored).
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ARTIFACTS, launchChromium, startDemoGateway } from './support.mjs'

let gateway
let browser

before(async () => {
  gateway = process.env.EDGEWAY_URL ? { url: process.env.EDGEWAY_URL.replace(/\/$/, ''), stop() {} } : await startDemoGateway({ ready: '/portal/portal.json' })
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  gateway?.stop()
})

/** A page that records every request it makes, so a test can check none leaves the gateway. */
async function openPortal(options = {}) {
  const context = await browser.newContext(options)
  const page = await context.newPage()
  const requested = []
  page.on('request', (request) => requested.push(request.url()))
  const errors = []
  page.on('pageerror', (err) => errors.push(err.message))
  const res = await page.goto(`${gateway.url}/portal`)
  assert.equal(res.status(), 200)
  await page.locator('[data-api]').first().waitFor()
  return { page, context, requested, errors }
}

describe('developer portal', () => {
  it('lists the demo APIs and their operations, with nothing loaded from other hosts', async () => {
    const { page, context, requested, errors } = await openPortal()
    assert.equal(page.url(), `${gateway.url}/portal/`)
    assert.equal(await page.title(), 'Edgeway demo developer portal')
    const apis = await page.locator('[data-api]').evaluateAll((nodes) => nodes.map((n) => n.dataset.api))
    for (const api of ['users-v1', 'users', 'orders', 'status', 'profile', 'me', 'partner', 'create-order']) assert.ok(apis.includes(api), `${api} in ${apis}`)
    // Each operation: method and path; the deprecated v1 is marked; the JWT route shows its auth.
    assert.equal(await page.locator('[data-op="users-v1"] .path').textContent(), '/v1/users/{id}')
    assert.equal(await page.locator('[data-op="users-v1"] .badge.deprecated').count(), 1)
    await page.locator('[data-op="me"] summary').click()
    const auth = await page.locator('[data-op="me"] [data-role="auth"]').textContent()
    assert.match(auth, /Bearer JWT \(Authorization header\) — A JWT from http:\/\/127\.0\.0\.1:9103; scopes: profile/)
    assert.match(await page.locator('[data-op="me"] [data-role="curl"]').textContent(), /^curl -i -X GET 'http:\/\/127\.0\.0\.1:\d+\/me'/)
    // Basic (the demo's `team` route): named as such, and its curl sends a user and password.
    await page.locator('[data-op="team"] summary').click()
    assert.match(await page.locator('[data-op="team"] [data-role="auth"]').textContent(), /^HTTP Basic: user name and password \(Authorization header\) — HTTP Basic, realm "demo"/)
    assert.match(await page.locator('[data-op="team"] [data-role="curl"]').textContent(), /-u "\$USER:\$PASSWORD"/)
    await page.screenshot({ path: join(ARTIFACTS, 'portal-list.png'), fullPage: true })
    assert.deepEqual(requested.filter((u) => !u.startsWith(`${gateway.url}/`)), [])
    assert.deepEqual(errors, [])
    await context.close()
  })

  it('the try-it console calls the gateway and shows the response', async () => {
    const { page, context } = await openPortal()
    const op = page.locator('[data-op="status"]')
    await op.locator('summary').click()
    await op.getByRole('button', { name: 'Send' }).click()
    await op.locator('[data-role="status"]', { hasText: '200' }).waitFor()
    const body = JSON.parse(await op.locator('[data-role="body"]').textContent())
    assert.equal(body.status, 'ok')
    assert.match(await op.locator('[data-role="headers"]').textContent(), /x-request-id: /)

    // A validated route: the example body passes; a broken one shows the failing path.
    const order = page.locator('[data-op="create-order"]')
    await order.locator('summary').click()
    await order.getByRole('button', { name: 'Send' }).click()
    await order.locator('[data-role="status"]', { hasText: '200' }).waitFor()
    assert.equal(JSON.parse(await order.locator('[data-role="body"]').textContent()).url, '/echo/shop/orders')
    await order.locator('textarea[name="body"]').fill('{ "items": [{ "sku": "a", "qty": 0 }] }')
    await order.getByRole('button', { name: 'Send' }).click()
    await order.locator('[data-role="status"]', { hasText: '400' }).waitFor()
    const problem = JSON.parse(await order.locator('[data-role="body"]').textContent())
    assert.deepEqual(problem.errors.map((e) => e.path), ['/items/0/qty'])
    await page.screenshot({ path: join(ARTIFACTS, 'portal-try-it.png'), fullPage: true })
    await context.close()
  })

  it('a required field left empty blocks Send with a message; the example uses a sample value, not the name', async () => {
    const { page, context, requested } = await openPortal()
    const op = page.locator('[data-op="users"]')
    await op.locator('summary').click()
    // `/v2/users/{id}`: the schema gives no example, so the curl shows a sample id.
    assert.match(await op.locator('[data-role="curl"]').textContent(), /^curl -i -X GET 'http:\/\/127\.0\.0\.1:\d+\/v2\/users\/1'/)
    const id = op.locator('input[name="path:id"]')
    assert.equal(await id.inputValue(), '')
    assert.equal(await id.getAttribute('placeholder'), 'required, e.g. 1')
    const sent = requested.length
    await op.getByRole('button', { name: 'Send' }).click()
    assert.equal(await op.locator('[data-role="status"]').textContent(), 'Fill in id (path): required before sending.')
    assert.equal(await id.getAttribute('aria-invalid'), 'true')
    assert.ok(await id.evaluate((node) => node === document.activeElement), 'the empty field has the focus')
    assert.deepEqual(requested.slice(sent), [], 'nothing was sent')
    await id.fill('1')
    await op.getByRole('button', { name: 'Send' }).click()
    await op.locator('[data-role="status"]', { hasText: '200' }).waitFor()
    assert.equal(await id.getAttribute('aria-invalid'), 'false')
    assert.ok(requested.slice(sent).some((u) => u.endsWith('/v2/users/1')))
    await context.close()
  })

  it('a route that lists no methods is one "any method" entry, whose console picks the method', async () => {
    const { page, context } = await openPortal()
    assert.equal(await page.locator('[data-api="orders"] .op').count(), 1)
    const op = page.locator('[data-op="orders"]')
    assert.equal(await op.locator('.method').textContent(), 'any')
    await op.locator('summary').click()
    assert.match(await op.locator('[data-role="any-method"]').textContent(), /^Answers any method: GET, POST, PUT, PATCH, DELETE/)
    const methods = await op.locator('select[name="method"] option').allTextContents()
    assert.deepEqual(methods, ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'])
    await op.locator('input[name="path:tail"]').fill('7')
    await op.locator('select[name="method"]').selectOption('POST')
    await op.getByRole('button', { name: 'Send' }).click()
    await op.locator('[data-role="status"]').filter({ hasText: /^\d{3}/ }).waitFor()
    // Variants stay with their route: the header-matched beta echo is listed under the echo entry.
    assert.equal(await page.locator('[data-api="echo"] .op').count(), 1)
    await context.close()
  })

  it('dark by preference, switchable, and readable on a phone', async () => {
    const { page, context } = await openPortal({ colorScheme: 'dark', viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true })
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    assert.equal(await background(), 'rgb(15, 17, 21)')
    // No sideways scrolling on a 375 px screen.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))
    await page.screenshot({ path: join(ARTIFACTS, 'portal-phone-dark.png') })
    await page.locator('#theme').click() // auto -> light
    assert.equal(await background(), 'rgb(255, 255, 255)')
    await page.locator('#theme').click() // light -> dark
    assert.equal(await background(), 'rgb(15, 17, 21)')
    await context.close()
  })

  it('serves only the portal\'s files, with a strict content security policy', async () => {
    const page = await fetch(`${gateway.url}/portal/`)
    assert.match(page.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/)
    assert.equal((await fetch(`${gateway.url}/portal/nope.js`)).status, 404)
    const outside = await fetch(`${gateway.url}/portal/%2e%2e/_edgeway/dashboard/`)
    assert.notEqual(outside.headers.get('content-security-policy'), page.headers.get('content-security-policy'))
  })
})
