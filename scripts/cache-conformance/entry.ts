/** Worker entry for `npm run test:cache-conformance`: one cached route in front of the suite's origin. */
import config from './config.json'
import { createWorker } from '../../src/lib'

export * from '../../src/gateway/durable-objects'
export default createWorker(config)
