/**
 * @module
 * The targets of an upstream: one (`url` or `service` shorthand) or a weighted pool. A target is a
 * base URL (with `${VAR}` from Worker variables) or a service binding, compiled once per isolate.
 */
import type { UpstreamConfig } from './schema'
import type { Env } from '../core/env'

export type Target = {
  /** Stable name: the config's `id`, else its position (`0`, `1`, ...). Named in sticky cookies. */
  id: string
  index: number
  weight: number
  /** For logs: the origin (`https://api.example.com`) or `service:BINDING`; never a path. */
  label: string
  /** What the health checker probes: a base URL or a service binding name. */
  address: { url: string } | { service: string }
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

/** `${NAME}` references to Worker variables in an upstream URL. */
export const VAR_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g

export function interpolateVars(source: string, env: Env, field: string): string {
  return source.replace(VAR_REFERENCE, (_, name: string) => {
    const value = env[name]
    if (typeof value !== 'string' || value === '') throw new UpstreamConfigError(field, `Worker variable "${name}" is not set`)
    return value
  })
}

/** Why `source` is not a usable upstream base URL, or undefined. Pure: `npm run check:config` runs it too. */
export function baseUrlProblem(source: string): string | undefined {
  let url: URL
  try {
    url = new URL(source)
  } catch {
    return `"${source}" is not an absolute URL`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL'
  if (url.search || url.hash) return 'must not have a query or fragment'
  if (url.username || url.password) return 'must not hold credentials (use a policy that reads a secret)'
  return undefined
}

function parseBaseUrl(source: string, field: string): URL {
  const problem = baseUrlProblem(source)
  if (problem) throw new UpstreamConfigError(field, problem)
  return new URL(source)
}

type TargetConfig = { url?: string | undefined; service?: string | undefined; weight?: number; id?: string | undefined }

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

/** A target's id: its configured `id`, else its position in the pool. */
export const targetId = (target: { id?: string | undefined }, index: number): string => target.id ?? String(index)

function compileTarget(target: TargetConfig, index: number, env: Env, field: string, mtls?: (request: Request) => Promise<Response>): Target {
  const id = targetId(target, index)
  const weight = target.weight ?? 1
  if (target.service !== undefined) {
    const service = target.service
    const binding = env[service] as Fetcher | undefined
    if (!binding || typeof binding.fetch !== 'function') {
      throw new UpstreamConfigError(`${field}.service`, `no service binding "${service}" in the Worker's environment`)
    }
    return {
      id,
      index,
      weight,
      label: `service:${service}`,
      address: { service },
      // The host is only a label for a service binding: the bound Worker receives the request.
      urlFor: (path, search) => `https://${service}.internal${path}${search}`,
      fetch: (request) => binding.fetch(request),
    }
  }
  const base = parseBaseUrl(interpolateVars(target.url!, env, `${field}.url`), `${field}.url`)
  const prefix = base.pathname.replace(/\/+$/, '')
  const origin = base.origin
  return {
    id,
    index,
    weight,
    label: origin,
    address: { url: `${origin}${prefix}` },
    urlFor: (path, search) => `${origin}${prefix}${path}${search}`,
    fetch: mtls ?? ((request) => fetch(request)),
  }
}

/** Compiles the upstream's targets; the shorthand `{ url }` / `{ service }` is a pool of one. */
export function compileTargets(name: string, config: UpstreamConfig, env: Env): Target[] {
  const field = `upstreams.${name}`
  const mtls = config.mtls !== undefined ? mtlsFetch(config.mtls, env, `${field}.mtls`) : undefined
  if (!config.targets) return [compileTarget(config, 0, env, field, mtls)]
  return config.targets.map((t, i) => compileTarget(t, i, env, `${field}.targets[${i}]`, mtls))
}
