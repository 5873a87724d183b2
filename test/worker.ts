/** The worker under test (the pool's `main`): the gateway with the test config. */
import config from './fixtures/gateway.json'
import { createWorker } from '../src/worker'

export * from '../src/worker'
export default createWorker(config)
