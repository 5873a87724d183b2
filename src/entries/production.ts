/** Worker entry for `wrangler deploy --env production`: config/production.json. */
import config from '../../config/production.json'
import { createWorker } from '../lib'

export * from '../gateway/durable-objects'
export default createWorker(config)
