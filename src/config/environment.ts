/**
 * @module
 * Offline checks of a valid config against the Worker environment it will be deployed to, for
 * `npm run check:config` and `npm run deploy` (the worker itself runs the same URL check when it
 * compiles the upstreams, where a problem would answer 500 to every request). Not bundled.
 *
 * What can be seen offline: the environment's `[vars]` and its declared bindings (wrangler.toml).
 * Secrets cannot: a `${VAR}` that is not a var passes only when it is a known secret name, and then
 * its URL is not checked.
 */
import type { GatewayConfig, PolicyConfig } from './schema'
import { baseUrlProblem, VAR_REFERENCE } from '../upstream/pool'

/** What wrangler.toml declares for one environment. */
export type DeployEnvironment = {
  /** `[env.<name>]`, or `top level` (the default environment). */
  label: string
  vars: Record<string, unknown>
  /** Names of secrets set with `wrangler secret put` (listed in `.dev.vars.example`). */
  secrets: ReadonlySet<string>
  services: ReadonlySet<string>
  durableObjects: ReadonlySet<string>
  mtlsCertificates: ReadonlySet<string>
}

type Add = (path: string, message: string) => void

function checkUrl(source: string, at: string, env: DeployEnvironment | undefined, add: Add) {
  const names = [...source.matchAll(VAR_REFERENCE)].map((m) => m[1]!)
  if (names.length === 0) {
    const problem = baseUrlProblem(source)
    if (problem) add(at, problem)
    return
  }
  if (!env) return
  // A secret's value cannot be seen offline, and a missing one is already reported: skip the URL check.
  let complete = true
  const resolved = source.replace(VAR_REFERENCE, (_, name: string) => {
    const value = env.vars[name]
    if (typeof value === 'string' && value !== '') return value
    complete = false
    if (!env.secrets.has(name)) add(at, `Worker variable "${name}" is not set in ${env.label} vars (nor listed as a secret in .dev.vars.example)`)
    return ''
  })
  if (!complete) return
  const problem = baseUrlProblem(resolved)
  if (problem) add(at, `${problem} ("${resolved}" in ${env.label})`)
}

function binding(kind: 'service binding' | 'Durable Object binding' | 'mTLS certificate binding', declared: ReadonlySet<string>, env: DeployEnvironment, add: Add) {
  return (name: string, at: string) => {
    if (!declared.has(name)) add(at, `no ${kind} "${name}" declared in ${env.label} of wrangler.toml`)
  }
}

/**
 * Problems the worker would only meet at runtime: literal upstream URLs always; with `env`, `${VAR}`
 * references and the service, Durable Object and mTLS bindings the config names.
 */
export function checkEnvironment(config: GatewayConfig, env?: DeployEnvironment): string[] {
  const problems: string[] = []
  const add: Add = (path, message) => problems.push(`${path}: ${message}`)
  const service = env && binding('service binding', env.services, env, add)
  const durableObject = env && binding('Durable Object binding', env.durableObjects, env, add)
  const mtls = env && binding('mTLS certificate binding', env.mtlsCertificates, env, add)

  for (const [name, u] of Object.entries(config.upstreams)) {
    const at = `upstreams.${name}`
    const targets = u.targets ? u.targets.map((t, i) => [t, `${at}.targets[${i}]`] as const) : [[u, at] as const]
    for (const [target, field] of targets) {
      if (target.url !== undefined) checkUrl(target.url, `${field}.url`, env, add)
      if (target.service !== undefined) service?.(target.service, `${field}.service`)
    }
    if (u.mtls !== undefined) mtls?.(u.mtls, `${at}.mtls`)
    if (u.healthCheck) durableObject?.(u.healthCheck.binding, `${at}.healthCheck.binding`)
  }
  const aggregator = config.gateway.metrics.aggregator
  if (aggregator) durableObject?.(aggregator.binding, 'gateway.metrics.aggregator.binding')
  const rateLimits = (policies: PolicyConfig[], base: string) =>
    policies.forEach((policy, i) => {
      if (policy.type === 'rate-limit') durableObject?.(policy.binding, `${base}[${i}].binding`)
      if (policy.type === 'http-signature' && policy.requireNonce) durableObject?.(policy.binding, `${base}[${i}].binding`)
    })
  rateLimits(config.policies, 'policies')
  config.routes.forEach((route, i) => rateLimits(route.policies, `routes[${i}].policies`))
  return problems
}
