/** The demo route of the README (config/demo.json, mirrored in the test fixture): MISS, then HIT. */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'

describe('demo route users-cached', () => {
  it('answers a miss that is stored, then a hit with Age', async () => {
    const path = `http://gw.test/cached/users/${crypto.randomUUID()}`
    const first = await exports.default.fetch(path)
    expect(first.status).toBe(200)
    expect(first.headers.get('cache-status')).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    await first.arrayBuffer()
    // The store finishes in waitUntil; poll a bounded number of times (no timing assertion).
    let second: Response | undefined
    for (let i = 0; i < 50; i++) {
      second = await exports.default.fetch(path)
      if (second.headers.get('cache-status')?.includes('hit')) break
      await second.arrayBuffer()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(second!.headers.get('cache-status')).toMatch(/^edgeway; hit; ttl=(30|29)$/)
    expect(second!.headers.get('age')).toMatch(/^[01]$/)
    expect(second!.headers.get('x-request-id')).toBeTruthy()
  })
})
