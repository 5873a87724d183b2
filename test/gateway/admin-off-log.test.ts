/**
 * The admin API's credential guard is built only when the API is on: a gateway without the admin
 * token logs nothing about limiting wrong admin tokens. The "limiter off" line is logged once per
 * isolate, and test files share the isolate's modules: the test forgets what was logged first.
 */
import { env } from 'cloudflare:workers'
import { expect, it, vi } from 'vitest'
import type { GatewayConfigInput } from '../../src/config/schema'
import { forgetLoggedOff } from '../../src/rate-limit/credential-failures'
import { testGateway } from '../support/gateway'

const config: GatewayConfigInput = {
  upstreams: { api: { url: 'http://127.0.0.1:9' } },
  routes: [{ id: 'r', match: { path: '/r' }, action: { type: 'respond', body: 'ok' } as never }],
}

it('without the admin API no "credential_limit_off" line for admin tokens; with it and no RATE_LIMITER, one', async () => {
  const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
  const adminLimitOff = () =>
    errors.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('"credential_limit_off"') && line.includes('"admin-token-failures"'))
  try {
    forgetLoggedOff()
    const off = testGateway(config, { ADMIN_TOKEN: undefined, RATE_LIMITER: undefined })
    expect((await off.fetch('/r')).status).toBe(200)
    expect((await off.fetch('/_edgeway/health')).status).toBe(404)
    expect(adminLimitOff()).toHaveLength(0)

    const on = testGateway(config, { RATE_LIMITER: undefined })
    expect((await on.fetch('/_edgeway/health', { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } })).status).toBe(200)
    expect(adminLimitOff()).toHaveLength(1)
  } finally {
    errors.mockRestore()
  }
})
