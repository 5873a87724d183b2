// The developer portal for every visitor: axe-core finds nothing at 1280 and 390 px, light and dark,
// with operations open and with a filter that matches nothing; nothing scrolls sideways or is cut
// off; no text under 11 px; a skip link and the filter work from the keyboard.
//
//   AXE_CORE_PATH=/path/to/axe.min.js   when axe-core is not in node_modules
//   EDGEWAY_URL=http://127.0.0.1:8787 node --test test/browser/portal-a11y.test.mjs
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { assertEveryLook, newContext } from './a11y.mjs'
import { gatewayAndBrowser, portalGateway } from './support.mjs'

const session = gatewayAndBrowser(portalGateway)

async function openPortal() {
  const context = await newContext(session.browser)
  const page = await context.newPage()
  await page.goto(`${session.gateway.url}/portal/`)
  await page.locator('[data-api]').first().waitFor()
  return { page, context }
}

/** Cells of open operations that reach past the right edge of the screen (cut off or scrolled away). */
const cutOffCells = (page) =>
  page.locator('.op[open] td').evaluateAll((cells) =>
    cells.filter((td) => td.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).map((td) => td.textContent.slice(0, 40)),
  )

describe('developer portal accessibility', () => {
  it('no axe violations, nothing wider than the screen or under 11 px, with operations open', async () => {
    const { page, context } = await openPortal()
    await assertEveryLook(page, 'portal')
    // Operations with parameters (a path rest with a description, a query flag) and a body schema.
    for (const op of ['create-order', 'partner', 'profile']) await page.locator(`[data-op="${op}"] summary`).click()
    await assertEveryLook(page, 'portal with operations open', async () => {
      assert.deepEqual(await cutOffCells(page), [], 'parameter table cells past the screen edge')
    })
    await context.close()
  })

  it('shows each description once', async () => {
    const { page, context } = await openPortal()
    for (const api of ['partner', 'me']) {
      const section = page.locator(`[data-api="${api}"]`)
      await section.locator('summary').first().click()
      const description = await section.locator('h2 + p').textContent()
      const text = await section.evaluate((node) => node.innerText)
      assert.equal(text.split(description).length - 1, 1, `"${description}" in ${api}: ${text}`)
    }
    await context.close()
  })

  it('a skip link, the first tab stop, leads past the filter and the list of APIs to the operations', async () => {
    const { page, context } = await openPortal()
    await page.keyboard.press('Tab')
    const skip = page.locator(':focus')
    assert.equal(await skip.textContent(), 'Skip to the operations')
    const box = await skip.boundingBox()
    assert.ok(box && box.y >= 0 && box.height > 0, 'the focused skip link is on screen')
    await page.keyboard.press('Enter')
    await page.keyboard.press('Tab')
    const first = await page.locator('.op summary').first().evaluate((node) => node === document.activeElement)
    assert.ok(first, 'the next tab stop is the first operation')
    await context.close()
  })

  it('the filter, from the keyboard: says when nothing matches, and shows only the APIs that do', async () => {
    const { page, context } = await openPortal()
    await page.keyboard.press('Tab')
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate(() => document.activeElement.id), 'filter')
    await page.keyboard.type('no-such-operation')
    assert.equal(await page.getByRole('status').filter({ hasText: 'match' }).textContent(), 'No operations match "no-such-operation".')
    assert.equal(await page.locator('.op:visible').count(), 0)
    await assertEveryLook(page, 'portal, nothing matching')
    await page.keyboard.press('Control+A')
    await page.keyboard.type('shop')
    assert.equal(await page.locator('#no-match').textContent(), '')
    assert.deepEqual(await page.locator('.op:visible').evaluateAll((ops) => ops.map((o) => o.dataset.op)), ['create-order'])
    assert.deepEqual(await page.locator('#toc a:visible').allTextContents(), ['create-order'])
    await page.keyboard.press('Control+A')
    await page.keyboard.press('Backspace')
    assert.ok((await page.locator('.op:visible').count()) > 10)
    await context.close()
  })
})
