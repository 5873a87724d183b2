/**
 * Worker entry for the raw-HTTP suite (test/http/): the gateway with test/http/gateway.json, run by
 * `wrangler dev test/http/entry.ts`, which keeps wrangler.toml's bindings and swaps only the entry.
 */
import config from './gateway.json'
import { createWorker } from '../../src/worker'

export * from '../../src/worker'
export default createWorker(config)
