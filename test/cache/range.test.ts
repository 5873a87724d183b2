/** Range requests answered from a complete stored response (RFC 9110 section 14). */
import { describe, expect, it } from 'vitest'
import { cacheStatus, cc, h, storedEntry } from './helpers'

const entry = () => storedEntry((tag) => `/c/echo/${tag}?${cc('max-age=60')}&${h('X-Kept', 'yes')}&body=0123456789`)

describe('Range from a stored response', () => {
  it('one byte range: a 206 with its Content-Range and the stored headers, from the cache', async () => {
    const { t, send } = await entry()
    for (const [range, text, contentRange] of [
      ['bytes=0-1', '01', 'bytes 0-1/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=8-99', '89', 'bytes 8-9/10'],
    ]) {
      const res = await send({ Range: range! })
      expect(res.status).toBe(206)
      expect(res.headers.get('content-range')).toBe(contentRange)
      expect(res.headers.get('x-kept')).toBe('yes')
      expect(cacheStatus(res)).toMatch(/^edgeway; hit/)
      expect(await res.text()).toBe(text)
    }
    expect(await t.count()).toBe(1)
  })

  it('a range past the end is a 416; several ranges get the whole response', async () => {
    const { send } = await entry()
    const unsatisfiable = await send({ Range: 'bytes=10-' })
    expect(unsatisfiable.status).toBe(416)
    expect(unsatisfiable.headers.get('content-range')).toBe('bytes */10')
    const several = await send({ Range: 'bytes=0-1, 4-5' })
    expect(several.status).toBe(200)
    expect(await several.text()).toBe('0123456789')
  })
})
