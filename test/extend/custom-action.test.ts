/**
 * Custom actions (`custom:<name>` as a route's action, src/core/custom.ts), and the JSON Schema a
 * project's editor uses, which knows the project's custom types.
 */
import { describe, expect, it } from 'vitest'
import * as v from 'valibot'
import { gatewayJsonSchema, projectJsonSchema } from '../../src/config/json-schema'
import { parseConfig } from '../../src/config/parse'
import { defineCustomAction, defineCustomPolicy, type Extensions } from '../../src/core/custom'
import { GatewayError } from '../../src/core/errors'
import { testGateway } from '../../src/testing/workerd'
import { routeConfig, type RouteInput } from '../support/gateway'

/** Answers with a greeting for the route's `name` param, in the configured language. */
const greet = defineCustomAction({
  schema: v.strictObject({ language: v.optional(v.picklist(['en', 'fr']), 'en'), status: v.optional(v.number(), 200) }),
  create: ({ language, status }, { route }) =>
    function greet(c) {
      const name = c.get('params').name
      if (name === 'nobody') throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'nobody to greet' })
      if (name === 'bug') throw new Error('a bug in the project action')
      return c.json({ greeting: `${language === 'fr' ? 'Bonjour' : 'Hello'} ${name}`, route: route.id }, status as 200)
    },
})

const EXTENSIONS: Extensions = { actions: { greet } }
const action = (options: Record<string, unknown> = {}) => ({ action: { type: 'custom:greet', ...options }, match: { path: '/hello/:name' } }) as Partial<RouteInput>
const gateway = (route: Partial<RouteInput>) => testGateway(routeConfig(route), EXTENSIONS)
const problems = (route: Partial<RouteInput>, extensions = EXTENSIONS) => {
  const result = parseConfig(routeConfig(route), extensions)
  return result.ok ? [] : result.problems
}

describe('custom actions', () => {
  it('answers the route, with its options, defaults and params', async () => {
    expect(await (await gateway(action()).fetch('/hello/ada')).json()).toEqual({ greeting: 'Hello ada', route: 'r' })
    const res = await gateway(action({ language: 'fr', status: 203 })).fetch('/hello/ada')
    expect(res.status).toBe(203)
    expect(await res.json()).toEqual({ greeting: 'Bonjour ada', route: 'r' })
  })

  it('answers its errors as problem+json: a GatewayError as itself, anything else as a 500', async () => {
    const gw = gateway(action())
    const missing = await gw.fetch('/hello/nobody')
    expect([missing.status, missing.headers.get('content-type')]).toEqual([404, 'application/problem+json'])
    const bug = await gw.fetch('/hello/bug')
    expect([bug.status, bug.headers.get('content-type')]).toEqual([500, 'application/problem+json'])
    expect(await bug.json()).toMatchObject({ code: 'ERR_INTERNAL' })
  })

  it("has the route's policies around it: a cache policy stores its answers", async () => {
    const id = crypto.randomUUID()
    const gw = gateway({ ...action(), match: { path: `/cached/${id}/:name` }, policies: [{ type: 'cache', defaultTtl: 60 }] as never })
    expect((await gw.fetch(`/cached/${id}/ada`)).headers.get('cache-status')).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    expect((await gw.fetch(`/cached/${id}/ada`)).headers.get('cache-status')).toMatch(/^edgeway; hit; ttl=\d+$/)
  })

  it('names the exact field of a bad option, and an unknown action', () => {
    expect(problems(action({ language: 'de' }))).toEqual(['routes[0].action.language: expected "en" | "fr", received "de"'])
    expect(problems(action({ lang: 'fr' }))).toEqual(['routes[0].action.lang: unknown key (allowed: language, status)'])
    expect(problems({ action: { type: 'custom:greeet' } as never })).toEqual(['routes[0].action.type: unknown custom action "custom:greeet" (registered: custom:greet)'])
  })

  it('counts the subrequests it declares against the budget', () => {
    const fanOut = defineCustomAction({ schema: v.object({}), create: () => (c) => c.text('ok'), subrequests: () => 51 })
    expect(problems({ action: { type: 'custom:fan-out' } as never }, { actions: { 'fan-out': fanOut } })).toEqual([
      'routes[0]: needs up to 51 subrequests per request (action 51, policies 0), over the limit of 50 (gateway.plan "free")',
    ])
  })
})

describe('the JSON Schema of a project', () => {
  const tenantCheck = defineCustomPolicy({ phase: 'auth', schema: v.strictObject({ tenantHeader: v.string(), allowMissing: v.optional(v.boolean()) }), create: () => async (_, next) => next() })
  type Node = { [key: string]: unknown }
  /** Every member of every `oneOf` in the schema whose `type` is a custom one. */
  const customMembers = (schema: unknown): Node[] => {
    const found: Node[] = []
    const walk = (node: unknown) => {
      if (!node || typeof node !== 'object') return
      for (const [key, value] of Object.entries(node)) {
        if (key === 'oneOf' && Array.isArray(value)) found.push(...value.filter((m: Node) => JSON.stringify((m.properties as Node | undefined)?.type ?? '').includes('custom:')))
        walk(value)
      }
    }
    walk(schema)
    return found
  }

  it('names each registered type with its options, in global and route policies and in actions', () => {
    const members = customMembers(projectJsonSchema({ 'tenant-check': tenantCheck }, { greet }))
    const policy = {
      type: 'object',
      properties: { type: { const: 'custom:tenant-check' }, tenantHeader: { type: 'string' }, allowMissing: { type: 'boolean' } },
      required: ['type', 'tenantHeader'],
      additionalProperties: false,
    }
    const action = {
      type: 'object',
      properties: { type: { const: 'custom:greet' }, language: { type: 'string', enum: ['en', 'fr'], default: 'en' }, status: { type: 'number', default: 200 } },
      required: ['type'],
      additionalProperties: false,
    }
    expect(members).toEqual([policy, policy, action])
  })

  it('allows no custom type the project does not register; the base schema allows any', () => {
    expect(customMembers(projectJsonSchema())).toEqual([])
    expect(customMembers(gatewayJsonSchema()).map((m) => (m.properties as { type: { pattern: string } }).type.pattern)).toEqual(Array(3).fill('^custom:[a-z0-9][a-z0-9-]*$'))
  })
})
