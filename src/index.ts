/** Worker entry for local development and the demo: the demo config. */
import config from '../config/demo.json'
import { createWorker } from './worker'

export * from './worker'
export default createWorker(config)
