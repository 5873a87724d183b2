/** The demo config's `basic-auth` route (config/demo.json `team`): what `npm run dev` serves. */
import { describe, expect, it } from 'vitest'
import demo from '../../config/demo.json'
import type { GatewayConfigInput } from '../../src/config/schema'
import { testGateway, type Echo } from '../support/gateway'

const basic = (credentials: string) => ({ authorization: `Basic ${btoa(credentials)}`, 'cf-connecting-ip': '203.0.113.77' }) // an address of this test's own: failures are counted per address

describe('demo: /team with HTTP Basic', () => {
  it('lets acme-ci in with the documented demo password, as the consumer acme, and refuses a wrong one', async () => {
    const gw = testGateway(demo as unknown as GatewayConfigInput)
    const ok = await gw.fetch('/team', { headers: basic('acme-ci:demo-password') })
    expect(ok.status).toBe(200)
    const echo = (await ok.json()) as Echo
    expect(echo.path).toBe('/echo/team')
    expect(echo.headers.authorization).toBeUndefined()
    const wrong = await gw.fetch('/team', { headers: basic('acme-ci:guess') })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="demo", charset="UTF-8"')
    expect(wrong.headers.get('content-type')).toBe('application/problem+json')
  })
})
