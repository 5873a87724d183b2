// The dashboard and its login page for every visitor: axe-core finds nothing at 1280 and 390 px,
// light and dark; nothing scrolls sideways; no text under 11 px (chart labels included); the time
// window is a radio group the arrow keys move; counts and times read as a person would write them.
//
//   AXE_CORE_PATH=/path/to/axe.min.js   when axe-core is not in node_modules
//   EDGEWAY_URL=... EDGEWAY_ADMIN_TOKEN=... node --test test/browser/dashboard-a11y.test.mjs
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { assertEveryLook, contrastOf, LOOKS, newContext, show } from './a11y.mjs'
import { dashboardGateway, gatewayAndBrowser } from './support.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const session = gatewayAndBrowser(dashboardGateway)

const metricsNow = async () =>
  (await (await fetch(`${session.gateway.url}/_edgeway/metrics?window=5m`, { headers: { Authorization: `Bearer ${session.gateway.token}` } })).json()).totals

/** Requests `paths` one by one, then waits (20 s at most) until the aggregator has counted them. */
async function sendAndWait(paths) {
  const before = await metricsNow()
  for (const path of paths) await (await fetch(`${session.gateway.url}${path}`)).arrayBuffer()
  for (let i = 0; i < 40 && (await metricsNow()).requests < before.requests + paths.length; i++) await sleep(500)
  return before
}

/** A signed-in page, loaded, with live refresh off so nothing changes while it is checked. */
async function openDashboard(context) {
  const page = await context.newPage()
  await page.goto(`${session.gateway.url}/_edgeway/dashboard`)
  await page.fill('#token', session.gateway.token)
  await Promise.all([page.waitForURL(`${session.gateway.url}/_edgeway/dashboard/`), page.click('button[type=submit]')])
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })
  await page.uncheck('#live')
  return page
}

/**
 * Waits (3 s at most) until the charts are drawn for the chart box's current width: they redraw
 * after a resize. Drawn at another width, their labels are scaled, which the size check then finds.
 */
const chartsFit = (page) =>
  page
    .waitForFunction(() => {
      const box = document.getElementById('chart-requests')
      return box.querySelector('svg')?.viewBox.baseVal.width === Math.max(240, Math.round(box.clientWidth))
    }, null, { timeout: 3000 })
    .catch(() => {})

describe('dashboard accessibility', () => {
  it('the login page: a main landmark, no axe violations, fits a 390 px phone, with and without an error', async () => {
    const context = await newContext(session.browser)
    const page = await context.newPage()
    assert.equal((await page.goto(`${session.gateway.url}/_edgeway/dashboard/`)).status(), 401)
    await assertEveryLook(page, 'login')
    assert.equal(await page.locator('main #login').count(), 1)
    await page.fill('#token', 'not-the-token')
    await page.click('button[type=submit]')
    await page.waitForSelector('.error')
    await assertEveryLook(page, 'login with an error')
    await show(page, LOOKS.find((l) => l.viewport.width === 390))
    const card = await page.locator('#login').boundingBox()
    assert.ok(card.x >= 0 && card.x + card.width <= 390, `the login card spans ${card.x}..${card.x + card.width} px on a 390 px screen`)
    await context.close()
  })

  it('the dashboard: no axe violations, no sideways scrolling, chart labels at least 11 px on screen', async () => {
    // Rows in the tables and lines in the charts: what a phone has to fit.
    await sendAndWait(['/users/1', '/users/2', '/users/999', '/no/such/route', '/status'])
    const context = await newContext(session.browser)
    const page = await openDashboard(context)
    assert.ok((await page.locator('#top-routes tbody tr').count()) >= 3)
    await assertEveryLook(page, 'dashboard', () => chartsFit(page))
    for (const look of LOOKS) {
      await show(page, look)
      const ratio = await contrastOf(page, '[role=radio][aria-checked=true]')
      assert.ok(ratio >= 4.5, `the chosen window button's contrast is ${ratio.toFixed(2)}:1 (${look.name})`)
    }
    await context.close()
  })

  it('the ten stat cards fill whole rows at 1280 and 390 px: none is left alone on a row', async () => {
    const context = await newContext(session.browser)
    const page = await openDashboard(context)
    for (const look of LOOKS.filter((l) => l.colorScheme === 'light')) {
      await show(page, look)
      const tops = await page.locator('.kpi').evaluateAll((cards) => cards.map((card) => Math.round(card.getBoundingClientRect().top)))
      const perRow = [...new Set(tops)].map((top) => tops.filter((t) => t === top).length)
      assert.equal(tops.length, 10)
      assert.ok(perRow.every((n) => n === perRow[0]), `cards per row at ${look.name}: ${perRow.join(' + ')}`)
    }
    await context.close()
  })

  it('the window buttons: one tab stop, arrow keys move the selection and load that window', async () => {
    const context = await newContext(session.browser)
    const page = await openDashboard(context)
    const windows = []
    page.on('request', (r) => r.url().includes('/metrics?') && windows.push(new URL(r.url()).searchParams.get('window')))
    const focused = () => page.evaluate(() => document.activeElement.dataset.window ?? document.activeElement.id)
    const checked = () => page.locator('[role=radio][aria-checked=true]').getAttribute('data-window')
    // Start from the heading, as a keyboard user who just arrived (unchecking "Live" focused it).
    await page.locator('h1').evaluate((h1) => {
      h1.tabIndex = -1
      h1.focus()
    })
    await page.keyboard.press('Tab')
    assert.equal(await focused(), '5m')
    await page.keyboard.press('Tab')
    assert.equal(await focused(), 'live', 'the unchosen windows are not tab stops')
    await page.keyboard.press('Shift+Tab')
    const seen = []
    for (const key of ['ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowLeft', 'Home', 'End', 'ArrowDown', 'ArrowUp']) {
      await page.keyboard.press(key)
      seen.push(`${key}: ${await checked()} ${await focused()}`)
    }
    assert.deepEqual(seen, [
      'ArrowRight: 1h 1h', 'ArrowRight: 24h 24h', 'ArrowRight: 5m 5m', 'ArrowLeft: 24h 24h',
      'Home: 5m 5m', 'End: 24h 24h', 'ArrowDown: 5m 5m', 'ArrowUp: 24h 24h',
    ])
    assert.deepEqual(await page.locator('[role=radio]').evaluateAll((b) => b.map((x) => x.tabIndex)), [-1, -1, 0])
    await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Updated'))
    assert.deepEqual(windows, ['1h', '24h', '5m', '24h', '5m', '24h', '5m', '24h'])
    await context.close()
  })

  it('says "1 miss" and "1 hit", and the update time in the 24-hour form of the axes', async () => {
    // A path no other test uses: the first request misses the cache, the second hits.
    const before = await sendAndWait(['/cached/users/7', '/cached/users/7'])
    const context = await newContext(session.browser)
    const page = await openDashboard(context)
    const { cacheHits, cacheMisses } = await metricsNow()
    const word = (n, one, other) => `${n.toLocaleString('en-US')} ${n === 1 ? one : other}`
    assert.equal(await page.textContent('#kpi-cache-counts'), `${word(cacheHits, 'hit', 'hits')}, ${word(cacheMisses, 'miss', 'misses')}`)
    if (before.cacheMisses === 0) assert.equal(await page.textContent('#kpi-cache-counts'), '1 hit, 1 miss')
    assert.match(await page.textContent('#status'), /^Updated \d\d:\d\d:\d\d$/)
    const axis = await page.locator('#chart-requests text').allTextContents()
    assert.ok(axis.some((t) => /^\d\d:\d\d$/.test(t)), `axis labels: ${axis}`)
    await context.close()
  })
})
