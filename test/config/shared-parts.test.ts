/**
 * A validated config holds each distinct part of its routes once (`src/config/shared-parts.ts`):
 * what the routes say is unchanged, identical parts are one object, and parts that differ in
 * anything (a value, a key's order, a nested value) stay apart.
 */
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/parse'
import { routePartSharer } from '../../src/config/shared-parts'
import type { GatewayConfigInput } from '../../src/config/schema'
import { originConfig } from '../support/gateway'

type RouteConfigInput = NonNullable<GatewayConfigInput['routes']>[number]

const route = (id: string, extra: Record<string, unknown> = {}): RouteConfigInput => ({
  id,
  match: { path: `/${id}`, methods: ['GET', 'POST'] },
  policies: [{ type: 'cors', origins: ['https://app.example.com'] }],
  action: { type: 'proxy', upstream: 'origin' },
  ...extra,
}) as RouteConfigInput

describe('shared parts of routes', () => {
  it('holds identical parts once and keeps every value as written', () => {
    const input = originConfig({
      routes: [
        route('a'),
        route('b'),
        route('c', { policies: [{ type: 'cors', origins: ['https://other.example.com'] }] }),
        route('d', { action: { type: 'proxy', upstream: 'origin', stripPrefix: '/d' } }),
      ],
    })
    const config = loadConfig(structuredClone(input))
    const [a, b, c, d] = config.routes
    expect(a!.match.methods).toBe(b!.match.methods)
    expect(a!.match.methods).toBe(c!.match.methods)
    expect(a!.policies[0]).toBe(b!.policies[0])
    expect(a!.policies).toBe(b!.policies)
    expect(a!.action).toBe(b!.action)
    // Differing in a nested value, or in one key: apart.
    expect(c!.policies[0]).not.toBe(a!.policies[0])
    expect(d!.action).not.toBe(a!.action)
    expect(a!.match).not.toBe(b!.match)
    // The same values as a config validated route by route, on its own.
    for (const [i, r] of config.routes.entries()) {
      const alone = loadConfig(originConfig({ routes: [structuredClone(input.routes![i]!)] })).routes[0]
      expect(r).toEqual(alone)
    }
  })

  it('never shares a part holding anything but JSON-like values (a class instance, a function, a non-finite number, -0)', () => {
    class Marker {
      constructor(readonly name: string) {}
    }
    const fn = () => 1
    const make = (id: string) => ({
      id,
      plain: { methods: ['GET'], weight: 1 },
      instance: { marker: new Marker('m') },
      callable: { fn },
      infinite: { limit: Infinity },
      nan: [Number.NaN],
      negativeZero: { at: -0 },
    })
    const [a, b] = [make('a'), make('b')]
    routePartSharer()([a, b])
    // JSON-like parts are held once...
    expect(a.plain).toBe(b.plain)
    // ...and a part with anything else stays each route's own, with its value as it was.
    expect(a.instance).not.toBe(b.instance)
    expect(a.instance.marker).toBeInstanceOf(Marker)
    expect(a.callable).not.toBe(b.callable)
    expect(a.callable.fn).toBe(fn)
    expect(a.infinite).not.toBe(b.infinite)
    expect(a.infinite.limit).toBe(Infinity)
    expect(a.nan).not.toBe(b.nan)
    expect(a.nan[0]).toBeNaN()
    expect(a.negativeZero).not.toBe(b.negativeZero)
    expect(Object.is(a.negativeZero.at, -0)).toBe(true)
  })
})
