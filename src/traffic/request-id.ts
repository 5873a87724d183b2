/**
 * @module
 * `request-id`: names the header that carries the request id to the origin and back to the client,
 * and whether a client-sent id is kept. Every request gets an id (for the log line and problem
 * `instance`) whether or not this policy runs; it is a global policy by default.
 *
 * @example
 * { "type": "request-id", "header": "X-Request-Id", "trustIncoming": true }
 */
import * as v from 'valibot'
import { HeaderName } from '../core/schema'
import { setResponseHeader } from '../core/http'
import { definePolicy } from '../core/policy'

/** What a client-sent id may look like: ids are logged and echoed, so nothing else is kept. */
export const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/

export const requestIdPolicy = definePolicy({
  type: 'request-id',
  phase: 'request',
  schema: v.strictObject({
    type: v.literal('request-id'),
    header: v.optional(HeaderName, 'X-Request-Id'),
    trustIncoming: v.pipe(v.optional(v.boolean(), false), v.description(SCHEMA_DOCS ? 'Keep a well-formed id sent by the client.' : '')),
    forward: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Send the id to the origin.' : '')),
    expose: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Return the id to the client.' : '')),
  }),
  create({ header, trustIncoming, forward, expose }) {
    return async function requestId(c, next) {
      const incoming = c.req.header(header)
      if (trustIncoming && incoming !== undefined && SAFE_ID.test(incoming)) {
        c.set('requestId', incoming)
        c.get('log').requestId = incoming
      }
      if (forward) c.get('upstreamRequest').headers.set(header, c.get('requestId'))
      else c.get('upstreamRequest').headers.delete(header)
      await next()
      if (expose) setResponseHeader(c, header, c.get('requestId'))
    }
  },
})
