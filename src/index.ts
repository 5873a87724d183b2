/** Worker entry for local development and the demo: the demo config, on the package's public entry points. */
import config from '../config/demo.json'
import { createWorker } from './lib'

export * from './gateway/durable-objects'
export default createWorker(config)
