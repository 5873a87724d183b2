// Small declared-length bodies are read whole (cheaper than the streaming wrapper, see
// docs/benchmarks.md); a stall inside one is a 504 problem, and streams keep streaming.
import { describe, expect, it } from 'vitest'
import { ORIGIN, originConfig, testGateway } from '../support/gateway'

const gateway = (idle = 300) => testGateway(originConfig({ upstreams: { origin: { url: ORIGIN, timeouts: { idle } } } }))

describe('proxy: small bodies with a declared length', () => {
  it('passes the body whole, with its Content-Length', async () => {
    const res = await gateway().fetch('/stream?chunks=3&interval=5&length=1')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBe(String('chunk-0\nchunk-1\nchunk-2\n'.length))
    expect(await res.text()).toBe('chunk-0\nchunk-1\nchunk-2\n')
  })

  it('answers 504 problem+json when the origin stalls inside a declared-length body', async () => {
    const gw = gateway(300)
    const res = await gw.fetch('/stream?chunks=3&interval=5&stall=1&length=1')
    expect(res.status).toBe(504)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const problem = (await res.json()) as { code: string }
    expect(problem.code).toBe('ERR_UPSTREAM_TIMEOUT')
    expect(gw.logs.at(-1)?.upstream?.error).toBe('idle-timeout')
  })

  it('still streams a body of unknown length, and cuts it when it stalls', async () => {
    const whole = await gateway().fetch('/stream?chunks=3&interval=5')
    expect(whole.headers.get('content-length')).toBeNull()
    expect(await whole.text()).toBe('chunk-0\nchunk-1\nchunk-2\n')
    const stalled = await gateway(300).fetch('/stream?chunks=3&interval=5&stall=1')
    expect(stalled.status).toBe(200)
    await expect(stalled.text()).rejects.toThrow()
  })
})
