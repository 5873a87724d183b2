/**
 * @module
 * The Worker entry: the gateway, built from the config bundled for this wrangler environment
 * (`edgeway:config`, aliased per environment in wrangler.toml).
 */
import bundledConfig from 'edgeway:config'
import type { Env } from './env'
import { GatewayHost } from './host'

const host = new GatewayHost(bundledConfig)

export default {
  fetch(request, env, ctx) {
    return host.fetch(request, env, ctx)
  },
} satisfies ExportedHandler<Env>
