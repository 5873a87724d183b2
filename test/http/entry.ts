/**
 * Worker entry for the raw-HTTP suite (test/http/): the gateway with test/http/gateway.json, run by
 * `wrangler dev test/http/entry.ts`, which keeps wrangler.toml's bindings and swaps only the entry.
 */
import config from './gateway.json'
import { createWorker } from '../../src/lib'

export * from '../../src/gateway/durable-objects'
export default createWorker(config)
