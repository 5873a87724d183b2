/** Worker entry for `wrangler deploy --env production`: config/production.json. */
import config from '../../config/production.json'
import { createWorker } from '../worker'

export * from '../worker'
export default createWorker(config)
