/** Worker entry for `wrangler deploy --env staging`: config/staging.json. */
import config from '../../config/staging.json'
import { createWorker } from '../worker'

export * from '../worker'
export default createWorker(config)
