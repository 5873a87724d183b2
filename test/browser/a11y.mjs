// What every page of ours must pass in a browser, in each look a visitor may see it in: axe-core's
// WCAG 2.x A/AA rules with no violation, no sideways scrolling, and no text under 11 px on screen.
//
// axe-core is a devDependency (node_modules/axe-core/axe.min.js); AXE_CORE_PATH points at another
// copy of axe.min.js (e.g. one unpacked by `npm pack axe-core@4.14.1`).
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import assert from 'node:assert/strict'

/** Desktop and a 390 px phone, each light and dark (prefers-color-scheme). */
export const LOOKS = [1280, 390].flatMap((width) =>
  ['light', 'dark'].map((colorScheme) => ({ name: `${width} px ${colorScheme}`, viewport: { width, height: width > 800 ? 900 : 844 }, colorScheme })),
)

function axePath() {
  if (process.env.AXE_CORE_PATH) return process.env.AXE_CORE_PATH
  try {
    return createRequire(import.meta.url).resolve('axe-core/axe.min.js')
  } catch {
    throw new Error('axe-core is not installed: npm install (it is a devDependency), or set AXE_CORE_PATH to an axe.min.js')
  }
}

/** A context that may load axe into pages whose CSP allows only their own scripts. */
export function newContext(browser, options = {}) {
  assert.ok(existsSync(axePath()), `no axe-core at ${axePath()}`)
  return browser.newContext({ bypassCSP: true, locale: 'en-US', ...options })
}

/** Switches the page to a look (see LOOKS). */
export async function show(page, look) {
  await page.setViewportSize(look.viewport)
  await page.emulateMedia({ colorScheme: look.colorScheme })
}

/** axe-core's violations (WCAG 2.0-2.2 A and AA, and best practices) on the page as it is now. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: axePath() })
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] }, resultTypes: ['violations'] }),
  )
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} (${n.failureSummary.split('\n').slice(1).join(' ').trim()})`))
}

/** Every visible text, with the size it is drawn at (an SVG's scale counts) when under 11 px. */
function smallText(page) {
  return page.evaluate(() => {
    const small = []
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.trim()
      const parent = node.parentElement
      if (!text || !parent.checkVisibility({ visibilityProperty: true })) continue
      let size = parseFloat(getComputedStyle(parent).fontSize)
      if (parent instanceof SVGElement) size *= parent.getScreenCTM()?.a ?? 1
      if (size < 11) small.push(`${parent.tagName.toLowerCase()} "${text.slice(0, 30)}": ${size.toFixed(1)} px`)
    }
    return small
  })
}

/** What is wrong with the page as shown now: axe violations, sideways scrolling, small text. */
export async function problems(page) {
  const width = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, viewport: window.innerWidth }))
  return [
    ...(await axeViolations(page)),
    ...(width.page > width.viewport ? [`page is ${width.page} px wide in a ${width.viewport} px viewport`] : []),
    ...(await smallText(page)).map((s) => `text under 11 px: ${s}`),
  ]
}

/** Shows the page in every look and asserts it has no problems in any; `settle` runs after each switch. */
export async function assertEveryLook(page, what, settle = async () => {}) {
  const found = []
  for (const look of LOOKS) {
    await show(page, look)
    await settle()
    for (const problem of await problems(page)) found.push(`${what}, ${look.name}: ${problem}`)
  }
  assert.deepEqual(found, [])
}

/** WCAG contrast ratio of an element's text colour on its own (opaque) background colour. */
export function contrastOf(page, selector) {
  return page.locator(selector).evaluate((node) => {
    const style = getComputedStyle(node)
    const luminance = (css) => {
      const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((c) => {
        const v = Number(c) / 255
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4
      })
      return 0.2126 * r + 0.7152 * g + 0.0722 * b
    }
    const [a, b] = [luminance(style.color), luminance(style.backgroundColor)].sort((x, y) => y - x)
    return (a + 0.05) / (b + 0.05)
  })
}
