/**
 * @module
 * Upstreams compiled once per isolate: a base URL (with `${VAR}` taken from Worker variables, so
 * staging and production can point at different origins with one config) or a service binding.
 */
import type { UpstreamConfig } from '../config/schema'
import type { Env } from '../env'

export type CompiledUpstream = {
  name: string
  /** For logs: the origin (`https://api.example.com`) or `service:BINDING`; never a path. */
  label: string
  timeouts: { headers: number; idle: number }
  /** The URL for a request path (already normalised/rewritten, percent-encoded) and query. */
  urlFor(path: string, search: string): string
  fetch(request: Request): Promise<Response>
}

/** A problem found while compiling, reported against the config path it concerns. */
export class UpstreamConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message)
  }
}

export function interpolateVars(source: string, env: Env, field: string): string {
  return source.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = env[name]
    if (typeof value !== 'string' || value === '') throw new UpstreamConfigError(field, `Worker variable "${name}" is not set`)
    return value
  })
}

function parseBaseUrl(source: string, field: string): URL {
  let url: URL
  try {
    url = new URL(source)
  } catch {
    throw new UpstreamConfigError(field, `"${source}" is not an absolute URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UpstreamConfigError(field, 'must be an http or https URL')
  if (url.search || url.hash) throw new UpstreamConfigError(field, 'must not have a query or fragment')
  if (url.username || url.password) throw new UpstreamConfigError(field, 'must not hold credentials (use a policy that reads a secret)')
  return url
}

/**
 * A Workers mTLS certificate binding (`[[mtls_certificates]]` in wrangler.toml) is a fetcher:
 * requests sent through it present that client certificate to the origin.
 */
function mtlsFetch(binding: string, env: Env, field: string): (request: Request) => Promise<Response> {
  const fetcher = env[binding] as Fetcher | undefined
  if (!fetcher || typeof fetcher.fetch !== 'function') {
    throw new UpstreamConfigError(field, `no mTLS certificate binding "${binding}" in the Worker's environment`)
  }
  return (request) => fetcher.fetch(request)
}

export function compileUpstream(name: string, config: UpstreamConfig, env: Env): CompiledUpstream {
  const field = `upstreams.${name}`
  if (config.service !== undefined) {
    const binding = env[config.service] as Fetcher | undefined
    if (!binding || typeof binding.fetch !== 'function') {
      throw new UpstreamConfigError(`${field}.service`, `no service binding "${config.service}" in the Worker's environment`)
    }
    return {
      name,
      label: `service:${config.service}`,
      timeouts: config.timeouts,
      // The host is only a label for a service binding: the bound Worker receives the request.
      urlFor: (path, search) => `https://${config.service}.internal${path}${search}`,
      fetch: (request) => binding.fetch(request),
    }
  }
  const base = parseBaseUrl(interpolateVars(config.url!, env, `${field}.url`), `${field}.url`)
  const prefix = base.pathname.replace(/\/+$/, '')
  const origin = base.origin
  return {
    name,
    label: origin,
    timeouts: config.timeouts,
    urlFor: (path, search) => `${origin}${prefix}${path}${search}`,
    fetch: config.mtls !== undefined ? mtlsFetch(config.mtls, env, `${field}.mtls`) : (request) => fetch(request),
  }
}
