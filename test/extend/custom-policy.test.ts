/**
 * Custom policies (`custom:<name>`, src/core/custom.ts): options checked by their own schema at
 * config time, placed by phase in the one pipeline, reading what built-in policies publish, and
 * every error they cause a problem+json answer.
 */
import { describe, expect, it } from 'vitest'
import * as v from 'valibot'
import { env } from 'cloudflare:workers'
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { parseConfig } from '../../src/config/parse'
import { defineCustomPolicy, type Extensions } from '../../src/core/custom'
import type { Env } from '../../src/core/env'
import { GatewayError } from '../../src/core/errors'
import { createWorker } from '../../src/worker'
import { testGateway, testIssuer, type Echo } from '../../src/testing/workerd'
import { routeConfig, type PolicyInput, type RouteInput } from '../support/gateway'

/** Refuses a caller whose token's `tenant` claim differs from the tenant the request names. */
const tenantCheck = defineCustomPolicy({
  phase: 'auth',
  schema: v.strictObject({ tenantHeader: v.string(), allowMissing: v.optional(v.boolean(), false) }),
  create: ({ tenantHeader, allowMissing }) =>
    async function tenantCheck(c, next) {
      const wanted = c.req.header(tenantHeader)
      if (wanted === undefined) {
        if (allowMissing) return next()
        throw new GatewayError('ERR_BAD_REQUEST', { detail: `${tenantHeader} is required` })
      }
      if (wanted !== c.get('claims')?.tenant) throw new GatewayError('ERR_FORBIDDEN', { detail: `not a member of tenant "${wanted}"` })
      c.get('upstreamRequest').headers.set('x-tenant-consumer', `${c.get('consumer')?.id}@${c.get('route').id}/${c.get('params').id}`)
      await next()
    },
})

/** Appends its `name` to the upstream request's `x-trail` header: shows the order policies ran in. */
const trail = (phase: 'request' | 'auth' | 'transform') =>
  defineCustomPolicy({
    phase,
    schema: v.strictObject({ name: v.string() }),
    create: ({ name }) =>
      async function trail(c, next) {
        const headers = c.get('upstreamRequest').headers
        headers.set('x-trail', [headers.get('x-trail'), `${name}${c.get('claims') ? '+claims' : ''}`].filter(Boolean).join(','))
        await next()
      },
  })

const boom = defineCustomPolicy({
  phase: 'request',
  schema: v.object({}),
  create: () =>
    async function boom() {
      throw new TypeError('a bug in the project policy')
    },
})

const EXTENSIONS: Extensions = {
  policies: { 'tenant-check': tenantCheck, 'trail-request': trail('request'), 'trail-auth': trail('auth'), 'trail-transform': trail('transform'), boom },
}

function gateway(route: Partial<RouteInput>, extensions: Extensions = EXTENSIONS, config = {}) {
  return testGateway(routeConfig(route, config), extensions)
}

async function issuer() {
  const issuer = await testIssuer()
  return { jwt: { type: 'jwt', issuers: [issuer.config] } as PolicyInput, bearer: issuer.bearer }
}

const problems = (route: Partial<RouteInput>, extensions: Extensions = EXTENSIONS, config = {}) => {
  const result = parseConfig(routeConfig(route, config), extensions)
  return result.ok ? [] : result.problems
}

describe('custom policies: config checks', () => {
  it.each([
    ['a wrong type', { tenantHeader: 7 }, 'routes[0].policies[0].tenantHeader: expected string, received 7'],
    ['a missing option', {}, 'routes[0].policies[0].tenantHeader: required'],
    ['a misspelt option', { tenantHeader: 'x-tenant', alowMissing: true }, 'routes[0].policies[0].alowMissing: unknown key, did you mean "allowMissing"? (allowed: tenantHeader, allowMissing)'],
  ])('names the exact field of %s', (_, options, message) => {
    expect(problems({ policies: [{ type: 'custom:tenant-check', ...options } as PolicyInput] })).toEqual([message])
  })

  it('names an unknown custom type, and the registered ones', () => {
    expect(problems({ policies: [{ type: 'custom:tenant-chek' } as PolicyInput] })).toEqual([
      'routes[0].policies[0].type: unknown custom policy "custom:tenant-chek" (registered: custom:tenant-check, custom:trail-request, custom:trail-auth, custom:trail-transform, custom:boom)',
    ])
    expect(problems({}, {}, { policies: [{ type: 'custom:boom' }] })).toEqual(['policies[0].type: unknown custom policy "custom:boom" (registered: none)'])
  })

  it('lists the custom form among the types a wrong one could be', () => {
    expect(problems({ policies: [{ type: 'tenant-check' } as never] })[0]).toMatch(/^routes\[0\]\.policies\[0\]\.type: expected one of "request-id" .* \| "custom:<name>", received "tenant-check"$/)
  })

  it('counts the subrequests a custom policy declares against the budget', () => {
    const fetching = defineCustomPolicy({ phase: 'request', schema: v.object({ calls: v.number() }), create: () => async (_, next) => next(), subrequests: ({ calls }) => calls })
    expect(problems({ policies: [{ type: 'custom:fetching', calls: 60 } as PolicyInput] }, { policies: { fetching } })).toEqual([
      'routes[0]: needs up to 61 subrequests per request (action 1, policies 60), over the limit of 50 (gateway.plan "free")',
    ])
  })

  it('refuses the config when the factory throws, naming the policy', () => {
    const picky = defineCustomPolicy({
      phase: 'request',
      schema: v.object({}),
      create: () => {
        throw new Error('needs the TENANTS binding')
      },
    })
    const worker = createWorker(routeConfig({ policies: [{ type: 'custom:picky' } as PolicyInput] }), { policies: { picky } })
    expect(() => gateway({ policies: [{ type: 'custom:picky' } as PolicyInput] }, { policies: { picky } })).toThrow('routes[0].policies[0]: needs the TENANTS binding')
    return expect(workerFetch(worker, '/x').then((res) => res.status)).resolves.toBe(500)
  })

  it('refuses a registered name the config could not write', () => {
    expect(() => createWorker({ routes: [] }, { policies: { 'Tenant Check': tenantCheck } })).toThrow(/policies\["Tenant Check"\]: a custom name is lower-case letters/)
    expect(() => createWorker({ routes: [] }, { policies: { x: { ...tenantCheck, phase: 'late' as never } } })).toThrow('policies["x"].phase: expected one of "request"')
  })
})

async function workerFetch(worker: ExportedHandler<Env>, path: string, init?: RequestInit): Promise<Response> {
  const ctx = createExecutionContext()
  const res = await worker.fetch!(new Request(`http://gateway.test${path}`, init) as never, env as unknown as Env, ctx)
  await waitOnExecutionContext(ctx)
  return res
}

describe('custom policies: in the pipeline', () => {
  it('reads the consumer, claims, route and params, and edits the upstream request', async () => {
    const { jwt, bearer } = await issuer()
    const gw = gateway({ id: 'orders', match: { path: '/echo/:id' }, policies: [jwt, { type: 'custom:tenant-check', tenantHeader: 'x-tenant' } as PolicyInput] })
    const res = await gw.fetch('/echo/42', { headers: { ...(await bearer({ tenant: 'acme' })).headers, 'x-tenant': 'acme' } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as Echo).headers['x-tenant-consumer']).toBe('user-1@orders/42')
  })

  it('answers a GatewayError it throws as problem+json', async () => {
    const { jwt, bearer } = await issuer()
    const gw = gateway({ match: { path: '/echo/:id' }, policies: [jwt, { type: 'custom:tenant-check', tenantHeader: 'x-tenant' } as PolicyInput] })
    const res = await gw.fetch('/echo/1', { headers: { ...(await bearer({ tenant: 'acme' })).headers, 'x-tenant': 'globex' } })
    expect(res.status).toBe(403)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(await res.json()).toMatchObject({ status: 403, code: 'ERR_FORBIDDEN', detail: 'not a member of tenant "globex"' })
  })

  it('fills in the defaults its schema declares', async () => {
    const gw = gateway({ match: { path: '/echo/:id' }, policies: [{ type: 'custom:tenant-check', tenantHeader: 'x-tenant' } as PolicyInput] })
    expect((await gw.fetch('/echo/1')).status).toBe(400)
    const lenient = gateway({ match: { path: '/echo/:id' }, policies: [{ type: 'custom:tenant-check', tenantHeader: 'x-tenant', allowMissing: true } as PolicyInput] })
    expect((await lenient.fetch('/echo/1')).status).toBe(200)
  })

  it('runs in its phase, whatever its place in the list: global first within a phase, then config order', async () => {
    const { jwt, bearer } = await issuer()
    const gw = gateway(
      {
        match: { path: '/echo/*' },
        policies: [
          { type: 'custom:trail-transform', name: 'transform' },
          { type: 'custom:trail-auth', name: 'auth-after-jwt' },
          jwt,
          { type: 'custom:trail-auth', name: 'auth-last' },
          { type: 'custom:trail-request', name: 'request' },
        ] as PolicyInput[],
      },
      EXTENSIONS,
      { policies: [{ type: 'custom:trail-auth', name: 'global-auth' }] },
    )
    const res = await gw.fetch('/echo/x', await bearer())
    // `auth-after-jwt` is listed before `jwt` in the same phase, so it runs first and sees no claims yet.
    expect(((await res.json()) as Echo).headers['x-trail']).toBe('request,global-auth,auth-after-jwt,auth-last+claims,transform+claims')
  })

  it('turns an unexpected throw into a problem+json 500, on a route and before routing', async () => {
    for (const gw of [gateway({ policies: [{ type: 'custom:boom' } as PolicyInput] }), gateway({}, EXTENSIONS, { policies: [{ type: 'custom:boom' }] })]) {
      const res = await gw.fetch('/anything')
      expect(res.status).toBe(500)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
      expect(await res.json()).toMatchObject({ code: 'ERR_INTERNAL' })
      expect(JSON.stringify(gw.logs)).not.toContain('a bug in the project policy')
    }
  })

  it('runs in the Worker createWorker builds', async () => {
    const worker = createWorker(routeConfig({ match: { path: '/echo/:id' }, policies: [{ type: 'custom:tenant-check', tenantHeader: 'x-tenant' } as PolicyInput] }), EXTENSIONS)
    expect((await workerFetch(worker, '/echo/1', { headers: { 'x-tenant': 'acme' } })).status).toBe(403)
    expect((await workerFetch(worker, '/echo/1')).status).toBe(400)
  })
})
