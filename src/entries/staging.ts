/** Worker entry for `wrangler deploy --env staging`: config/staging.json. */
import config from '../../config/staging.json'
import { createWorker } from '../lib'

export * from '../gateway/durable-objects'
export default createWorker(config)
