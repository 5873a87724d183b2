// The admin dashboard in a real browser: headless Debian Chromium driven by playwright-core.
//
//   node --test test/browser/            starts its own gateway: wrangler dev on a free port with the
//                                        demo config, fresh state, the demo origins, a random admin token
//   EDGEWAY_URL=http://127.0.0.1:8787 EDGEWAY_ADMIN_TOKEN=... node --test test/browser/
//                                        uses a gateway that is already running (npm run dev)
//
// Needs /usr/bin/chromium (apt-get install chromium). Screenshots go to test-artifacts/ (ignored by git).
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ARTIFACTS, dashboardGateway, launchChromium } from './support.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

let gateway
let browser

before(async () => {
  gateway = await dashboardGateway()
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  gateway?.stop()
})

async function metrics(window = '5m') {
  const res = await fetch(`${gateway.url}/_edgeway/metrics?window=${window}`, { headers: { Authorization: `Bearer ${gateway.token}` } })
  assert.equal(res.status, 200)
  return res.json()
}

describe('dashboard', () => {
  it('after a known burst of traffic, shows the counts the aggregator holds', async () => {
    const before = await metrics()
    const usersBefore = before.topRoutes.find((r) => r.route === 'users')?.requests ?? 0
    const burst = [
      ...Array.from({ length: 8 }, () => '/users/1'), // 200 from the demo origin
      ...Array.from({ length: 3 }, () => '/users/999'), // 404 from the demo origin
      ...Array.from({ length: 2 }, () => '/no/such/route'), // 404 from the gateway
    ]
    for (const path of burst) {
      const res = await fetch(`${gateway.url}${path}`)
      await res.arrayBuffer()
    }
    // Metrics are batched in the isolate (gateway.metrics.aggregator.flushMs): wait for them, 20 s at most.
    let held
    for (let i = 0; i < 40; i++) {
      held = await metrics()
      if (held.totals.requests >= before.totals.requests + burst.length) break
      await sleep(500)
    }
    assert.ok(held.totals.requests >= before.totals.requests + burst.length, `aggregator holds ${held.totals.requests} requests`)
    const users = held.topRoutes.find((r) => r.route === 'users')
    assert.equal(users.requests - usersBefore, 11)

    const context = await browser.newContext({ viewport: { width: 390, height: 844 } }) // a phone
    const page = await context.newPage()
    await page.goto(`${gateway.url}/_edgeway/dashboard`)
    await page.fill('#token', gateway.token)
    await Promise.all([page.waitForURL(`${gateway.url}/_edgeway/dashboard/`), page.click('button[type=submit]')])
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })
    // Live refresh stops so the numbers hold still while they are compared.
    await page.uncheck('#live')
    await page.click('[data-window="5m"]')
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Updated'))
    const now = await metrics()
    assert.equal(await page.getAttribute('#kpi-requests', 'data-value'), String(now.totals.requests))
    assert.equal(Number(await page.getAttribute('#kpi-requests', 'data-value')), now.totals.requests)
    const row = page.locator('#top-routes tbody tr', { hasText: /^users/ }).first()
    assert.equal(await row.locator('td').nth(1).textContent(), now.topRoutes.find((r) => r.route === 'users').requests.toLocaleString('en-US'))
    assert.equal(await page.locator('#statuses tbody tr', { hasText: '4xx' }).locator('td').nth(1).textContent(), now.statuses['4xx'].toLocaleString('en-US'))
    // Upstream errors and what circuit breakers did (the demo has no breaker: the counts are there, at 0).
    assert.equal(await page.getAttribute('#kpi-upstream-errors', 'data-value'), String(now.totals.upstreamErrors))
    assert.equal(await page.getAttribute('#kpi-breaker-refusals', 'data-value'), String(now.totals.breakerRejections))
    assert.equal(await page.textContent('#kpi-breaker-opens'), `${now.totals.breakerOpens} circuits opened`)
    assert.ok((await page.locator('#chart-requests svg polyline, #chart-requests svg circle').count()) > 0, 'the requests chart has a line')
    // The upstream targets, from ../upstreams: one row per target, the demo pool's two among them
    // with what its health check says (targets start healthy; `unknown` while the object is unread).
    const status = await (await fetch(`${gateway.url}/_edgeway/upstreams`, { headers: { Authorization: `Bearer ${gateway.token}` } })).json()
    const targets = status.upstreams.flatMap((u) => u.targets.map((t) => ({ upstream: u.name, ...t })))
    await page.waitForFunction((n) => document.querySelectorAll('#upstreams tbody tr').length === n, targets.length)
    const steady = page.locator('#upstreams tbody tr', { hasText: 'steady:' })
    assert.equal(await steady.locator('td').nth(0).textContent(), 'demo-pool')
    assert.match(await steady.locator('td').nth(5).textContent(), /^(healthy|unhealthy|unknown)/)
    assert.equal(await page.locator('#upstreams tbody tr', { hasText: /^demo-b/ }).locator('td').nth(3).textContent(), '–') // no breaker configured
    // Readable on a phone: nothing wider than the screen.
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scrolling at 390 px')
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true })
    await page.emulateMedia({ colorScheme: 'dark' })
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    await page.emulateMedia({ colorScheme: 'light' })
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    assert.notEqual(dark, light)
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-desktop.png'), fullPage: true })
    await context.close()
  })

  it('an anonymous visitor cannot open the dashboard or read its data', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const res = await page.goto(`${gateway.url}/_edgeway/dashboard/`)
    assert.equal(res.status(), 401)
    assert.equal(await page.locator('#login').count(), 1)
    assert.equal(await page.locator('#kpi-requests').count(), 0)
    // The browser's own requests (same cookie jar as the page).
    const data = await context.request.get(`${gateway.url}/_edgeway/metrics?window=5m`)
    assert.equal((await context.request.get(`${gateway.url}/_edgeway/upstreams`)).status(), 401)
    const script = await context.request.get(`${gateway.url}/_edgeway/dashboard/app.js`)
    const fromPage = [data.status(), script.status(), (await script.text()).includes('lineChart')]
    assert.deepEqual(fromPage, [401, 401, false])
    // A wrong token keeps the visitor on the login form.
    await page.fill('#token', 'not-the-token')
    await page.click('button[type=submit]')
    await page.waitForSelector('.error')
    assert.equal(await page.locator('#kpi-requests').count(), 0)
    assert.deepEqual(await context.cookies(), [])
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-login.png') })
    await context.close()
  })
})
