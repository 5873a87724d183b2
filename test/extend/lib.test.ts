/**
 * The package's main entry (src/lib.ts, `edgeway`): what a project's Worker imports. A project
 * builds its Worker from these names alone; this guards them.
 */
import { expect, it } from 'vitest'
import * as v from 'valibot'
import * as edgeway from '../../src/lib'
import { testGateway } from '../../src/testing/workerd'

it('exports the Worker factory, the custom policy and action makers, the error, the Durable Objects and the schemas', () => {
  for (const name of ['createWorker', 'definePolicy', 'defineAction', 'GatewayError', 'parseConfig', 'gatewayJsonSchema', 'projectJsonSchema']) {
    expect(typeof edgeway[name as keyof typeof edgeway], name).toBe('function')
  }
  for (const name of ['RateLimiter', 'HealthChecker', 'SignatureNonces', 'MetricsAggregator']) expect(typeof edgeway[name as keyof typeof edgeway], name).toBe('function')
})

it('builds a gateway from a policy made with its definePolicy', async () => {
  const stamp = edgeway.definePolicy({
    phase: 'transform',
    schema: v.strictObject({ header: v.string() }),
    create: ({ header }) =>
      async function stamp(c, next) {
        await next()
        c.res.headers.set(header, c.get('route').id)
      },
  })
  const gateway = testGateway({ routes: [{ id: 'hi', match: { path: '/hi' }, policies: [{ type: 'custom:stamp', header: 'x-route' }], action: { type: 'respond', body: 'hi' } }] }, { policies: { stamp } })
  expect((await gateway.fetch('/hi')).headers.get('x-route')).toBe('hi')
})
