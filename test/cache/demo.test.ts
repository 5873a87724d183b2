/** The demo route of the README (config/demo.json, mirrored in the test fixture): MISS, then HIT. */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { pollUntil } from '../support/runtime'

describe('demo route users-cached', () => {
  it('answers a miss that is stored, then a hit with Age', async () => {
    const path = `http://gw.test/cached/users/${crypto.randomUUID()}`
    const first = await exports.default.fetch(path)
    expect(first.status).toBe(200)
    expect(first.headers.get('cache-status')).toBe('edgeway; fwd=uri-miss; fwd-status=200; stored')
    await first.arrayBuffer()
    // The store finishes in waitUntil; ask a bounded number of times (no timing assertion).
    const ask = async () => {
      const res = await exports.default.fetch(path)
      await res.arrayBuffer()
      return res
    }
    const second = await pollUntil(ask, (res) => res.headers.get('cache-status')?.includes('hit') ?? false, { tries: 50 })
    expect(second.headers.get('cache-status')).toMatch(/^edgeway; hit; ttl=(30|29)$/)
    expect(second.headers.get('age')).toMatch(/^[01]$/)
    expect(second.headers.get('x-request-id')).toBeTruthy()
  })
})
