/**
 * A config read from KV by hot reload meets the same custom policies as the bundled one: the
 * registry is the Worker's, so a record naming one it lacks is refused and the running config stays.
 */
import { afterEach, expect, it, vi } from 'vitest'
import * as v from 'valibot'
import type { GatewayConfigInput } from '../../src/config/schema'
import { defineCustomPolicy } from '../../src/core/custom'
import { GatewayError } from '../../src/core/errors'
import { GatewayHost } from '../../src/gateway/host'
import { call, captureEvents, env, says, writeRecord } from '../gateway/helpers'

afterEach(() => {
  vi.restoreAllMocks()
})

const closed = defineCustomPolicy({
  phase: 'request',
  schema: v.strictObject({ reason: v.string() }),
  create: ({ reason }) =>
    async function closed() {
      throw new GatewayError('ERR_FORBIDDEN', { detail: reason })
    },
})

const withPolicy = (type: string): GatewayConfigInput => ({
  routes: [{ id: 'says', match: { path: '/says' }, policies: [{ type, reason: 'closed for the night' } as never], action: { type: 'respond', body: 'open' } }],
})

it('runs a record with a registered custom policy, and refuses one naming an unregistered one', async () => {
  const key = 'custom-reload.json'
  const events = captureEvents()
  await writeRecord(key, withPolicy('custom:closed'))
  const host = new GatewayHost(says('bundled', { gateway: { reload: { key, refreshSeconds: 60 } } }), { extensions: { policies: { closed } } })
  const res = await call(host, '/says')
  expect([res.status, ((await res.json()) as { detail: string }).detail]).toEqual([403, 'closed for the night'])

  const bad = await writeRecord(key, withPolicy('custom:opened'))
  await host.reload(env)
  expect((await call(host, '/says')).status).toBe(403)
  expect(events().at(-1)).toMatchObject({
    event: 'config_reload_rejected',
    version: bad,
    problems: ['routes[0].policies[0].type: unknown custom policy "custom:opened" (registered: custom:closed)'],
  })
})
