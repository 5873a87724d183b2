/**
 * Templated header values: anything but visible ASCII, space and tab is refused with a 400 in every
 * place that templates a header outside aggregation (`headers` and `transform` policies on both
 * sides, the `respond` action), instead of going out as raw UTF-8 bytes or injecting a header.
 */
import { describe, expect, it } from 'vitest'
import { configProblems } from '../support/config'
import { newTag, originLog, policyGateway, routeConfig, routeGateway } from '../support/gateway'

const NAMES = ['Zo%C3%AB', '%E2%9C%93', 'a%0D%0AInjected:%201', 'tab%09ok']

async function answers(gw: ReturnType<typeof routeGateway>, name: string, tag = newTag()) {
  const res = await gw.fetch(`/x?name=${name}`, { headers: { 'x-test-tag': tag } })
  return { res, problem: res.status === 400 ? await res.json<{ type: string; detail: string }>() : undefined, seen: await originLog(tag) }
}

describe('templated header values', () => {
  const places = {
    'headers policy, request side': () => policyGateway('headers', { request: { set: { 'x-name': 'n={query.name}' } } }),
    'headers policy, response side': () => policyGateway('headers', { response: { add: { 'x-name': '{query.name}' } } }),
    'transform policy, request headers': () => policyGateway('transform', { request: { headers: { set: { 'x-name': '{query.name}' } } } }),
    'respond action': () => routeGateway({ action: { type: 'respond', headers: { 'x-name': '{query.name}' }, body: 'hi' } }),
  }
  for (const [place, build] of Object.entries(places)) {
    it(`${place}: non-ASCII, CR and LF are a 400; visible ASCII, space and tab pass`, async () => {
      const gw = build()
      for (const bad of NAMES.slice(0, 3)) {
        const { res, problem, seen } = await answers(gw, bad)
        expect(res.status, bad).toBe(400)
        expect(res.headers.get('content-type')).toContain('application/problem+json')
        expect(problem?.detail).toContain('visible ASCII')
        expect(res.headers.get('injected')).toBeNull()
        // Refused before the upstream is called, except on the response side (it has answered by then).
        if (!place.includes('response')) expect(seen).toHaveLength(0)
      }
      const { res } = await answers(gw, NAMES[3]!)
      expect(res.status).toBe(200)
    })
  }
})

describe('header value templates at validation', () => {
  it('literal text (or a fallback) outside visible ASCII is refused, naming the field; values read at run time are not', () => {
    const message = 'a header value may hold only visible ASCII, space and tab (outside its {...} values)'
    expect(configProblems(routeConfig({ policies: [{ type: 'headers', request: { set: { 'x-name': 'Zoë {query.name}' } } }] }))).toEqual([
      `routes[0].policies[0].request.set.x-name: ${message}`,
    ])
    expect(configProblems(routeConfig({ action: { type: 'respond', headers: { 'x-name': '{query.name|naïve}' } } }))).toEqual([`routes[0].action.headers.x-name: ${message}`])
    expect(configProblems(routeConfig({ action: { type: 'respond', headers: { 'x-name': 'a\tb {query.name|none}' } } }))).toEqual([])
  })
})

