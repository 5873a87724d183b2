/** A config regex runs only on values up to `MAX_REGEX_INPUT` characters: a longer one does not match. */
import { describe, expect, it } from 'vitest'
import { MAX_REGEX_INPUT } from '../../src/core/regex'
import { testGateway } from '../support/gateway'

describe('header regex input is capped', () => {
  const gw = testGateway({
    routes: [
      { id: 'mobile', match: { path: '/hdr', headers: { 'x-client': { regex: '^mobile-' } } }, action: { type: 'respond', body: 'mobile' } },
      { id: 'other', match: { path: '/hdr' }, action: { type: 'respond', body: 'other' } },
    ],
  })

  it('a value within the cap is matched', async () => {
    const res = await gw.fetch('/hdr', { headers: { 'x-client': `mobile-${'a'.repeat(MAX_REGEX_INPUT - 7)}` } })
    expect(await res.text()).toBe('mobile')
  })

  it('a value over the cap does not match', async () => {
    const res = await gw.fetch('/hdr', { headers: { 'x-client': `mobile-${'a'.repeat(MAX_REGEX_INPUT)}` } })
    expect(await res.text()).toBe('other')
  })
})
