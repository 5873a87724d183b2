/** The Worker: Edgeway with this project's gateway.json and its custom policies. */
import { createWorker } from 'edgeway'
import config from '../gateway.json'
import * as extensions from './extensions'

// The Durable Object classes Edgeway uses: wrangler.toml binds them.
export * from 'edgeway/durable-objects'
export default createWorker(config, extensions)
