/**
 * @module
 * The OpenAPI 3.1 document, generated from the config: every route (but `gateway.openapi.exclude`)
 * becomes one operation per method, with its path parameters (`/users/:id` -> `/users/{id}`, a
 * trailing `*` -> `{tail}`), its match conditions as parameters, its security (`jwt`, `api-key`
 * policies, global ones included: `./security`; `[]` when none), its limits as extension fields
 * (`x-ratelimit`, `x-quota`), the schemas of its `validate` policy (their definitions under
 * `components/schemas`: `./components`), and the refusals its policies and action can give (401,
 * 403, 429, 413, 400; 502 and 504 for an aggregate). An `aggregate` route is one operation.
 * Versioned routes sit under `/<version>` with `versioning.prefix`; a deprecated version marks
 * them `deprecated`.
 *
 * A route that lists no methods answers any: it becomes the five usual operations, each marked
 * `x-edgeway-any-method: true` (OpenAPI has no operation for "any method").
 *
 * Policies are read as plain config here, defensively, so a policy type that grows new options
 * never breaks the document. Routes that compete for one path and method (a header-matched beta
 * route beside the main one) become one operation; the others are listed in `x-edgeway-variants`.
 */
import type { PolicyView } from '../core/config-view'
import type { OpenApiSource } from './schema'
import type { Env } from '../core/env'
import { own } from '../core/record'
import { aggregateExtension } from './aggregate'
import { schemaComponents } from './components'
import { accessOf, canForbid, schemeRegistry, securityOf } from './security'

type Obj = Record<string, any>
const ANY_METHOD = ['get', 'post', 'put', 'patch', 'delete']
const NO_BODY = new Set(['get', 'head', 'options'])

/** `/users/:id{[0-9]+}/*` -> `/users/{id}/{tail}` and its path parameters. */
export function openApiPath(pattern: string): { path: string; params: Obj[] } {
  const params: Obj[] = []
  const path = pattern.replace(/:([A-Za-z0-9_]+)(\{([^}]+)\})?\??|\*$/g, (m, name?: string, _r?: string, regex?: string) => {
    name ??= 'tail'
    params.push({
      name,
      in: 'path',
      required: true,
      schema: { type: 'string', ...(regex && { pattern: `^${regex}$` }) },
      ...(m === '*' && { description: 'The rest of the path (may contain "/").' }),
    })
    return `{${name}}`
  })
  return { path, params }
}

function conditionParam(name: string, where: 'header' | 'query', rule: unknown): Obj | undefined {
  const r = (typeof rule === 'string' ? { equals: rule } : rule) as Obj
  if (r.present === false) return undefined
  const schema = r.equals !== undefined ? { const: r.equals } : r.regex !== undefined ? { type: 'string', pattern: r.regex } : { type: 'string' }
  return { name, in: where, required: true, schema }
}

function schemaParams(schema: unknown, where: 'header' | 'query'): Obj[] {
  if (!schema || typeof schema !== 'object') return []
  const { properties = {}, required = [] } = schema as Obj
  return Object.entries(properties as Obj).map(([name, s]) => ({ name, in: where, required: required.includes(name), schema: s }))
}

/**
 * Limits from `rate-limit` and `request-limits` policies, as extension fields. Each limit says whose
 * counter it is: its own `by` (and then only its own `fallback`), else the policy's, as the policy
 * keys it (`compileLimits` in `../rate-limit/policy`).
 */
function limits(policies: Obj[]): Obj {
  const out: Obj = {}
  const pick = (p: Obj, items: unknown, keys: string[]) =>
    (Array.isArray(items) ? items : []).filter((item): item is Obj => typeof item === 'object' && item !== null).map((item) => {
      const by = item.by ?? p.by
      const fallback = item.by !== undefined ? item.fallback : (item.fallback ?? p.fallback)
      return { ...Object.fromEntries(keys.filter((k) => item[k] !== undefined).map((k) => [k, item[k]])), ...(by !== undefined && { by }), ...(fallback !== undefined && { fallback }) }
    })
  for (const p of policies) {
    if (p.type === 'rate-limit') {
      ;(out['x-ratelimit'] ??= []).push(...pick(p, p.limits, ['name', 'limit', 'window']))
      ;(out['x-quota'] ??= []).push(...pick(p, p.quotas, ['name', 'limit', 'period']))
      if (p.plans) out['x-ratelimit-plans'] = true
    } else if (p.type === 'request-limits' && p.maxBodyBytes !== undefined) out['x-max-body-bytes'] = p.maxBodyBytes
  }
  for (const key of ['x-ratelimit', 'x-quota']) if (out[key]?.length === 0) delete out[key]
  return out
}

function responsesOf(route: OpenApiSource['routes'][number], policies: Obj[], validate: Obj | undefined, secured: boolean): Obj {
  const a = route.action as Obj
  const responses: Obj = {}
  for (const [status, schema] of Object.entries((validate?.responses ?? {}) as Obj)) {
    responses[status] = { description: status === 'default' ? 'Response' : `Status ${status}`, content: { 'application/json': { schema } } }
  }
  if (Object.keys(responses).length === 0) {
    if (a.type === 'respond') {
      responses[a.status] = { description: 'A fixed response from the gateway', ...(a.body !== undefined && typeof a.body !== 'string' && { content: { 'application/json': { example: a.body } } }) }
    } else if (a.type === 'redirect') {
      responses[a.status] = { description: `Redirects to ${a.location}`, headers: { Location: { schema: { type: 'string' } } } }
    } else if (a.type === 'aggregate') {
      responses['200'] = { description: `One JSON object merged from ${a.calls.length} backend calls`, content: { 'application/json': { schema: { type: 'object' } } } }
    } else responses.default = { description: `The response of upstream "${a.upstream}"` }
  }
  const problem = PROBLEM
  if (validate) responses['400'] ??= problem
  if (secured) responses['401'] ??= problem
  if (canForbid(policies)) responses['403'] ??= problem
  if (policies.some((p) => p.type === 'rate-limit')) responses['429'] ??= problem
  // A required call that fails or misses the deadline fails the whole aggregate.
  if (a.type === 'aggregate') {
    responses['502'] ??= problem
    responses['504'] ??= problem
  }
  if (policies.some((p) => p.type === 'validate' || (p.type === 'request-limits' && p.maxBodyBytes !== undefined))) responses['413'] ??= problem
  return responses
}

/** Error responses are written out, not `$ref`ed: the 2021 OpenAPI 3.1 schema rejects relative `$ref`s. */
const PROBLEM = {
  description: 'An error, as RFC 9457 problem details (`code`, and `errors` for a failed validation)',
  content: { 'application/problem+json': { schema: { type: 'object', properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, code: { type: 'string' } } } } },
}

/**
 * The `validate` policy's options with its schemas as the document publishes them (`./components`):
 * query and header schemas by their properties (their parameters), the others whole.
 */
function publishedValidate(validate: Obj | undefined, routeId: string, publish: ReturnType<typeof schemaComponents>['publish']): Obj | undefined {
  if (!validate) return undefined
  const out: Obj = { ...validate }
  if (validate.body !== undefined) out.body = publish(validate.body, `${routeId}.body`).schema
  if (validate.query !== undefined) out.query = publish(validate.query, `${routeId}.query`).inline
  if (validate.headers !== undefined) out.headers = publish(validate.headers, `${routeId}.headers`).inline
  if (validate.responses !== undefined) {
    out.responses = Object.fromEntries(Object.entries(validate.responses as Obj).map(([status, schema]) => [status, publish(schema, `${routeId}.response.${status}`).schema]))
  }
  return out
}

type Route = OpenApiSource['routes'][number]
type Versioning = OpenApiSource['versioning']
type Candidate = { route: Route; method: string; op: Obj; conditional: boolean; preferred: boolean }

/** What every operation of one route shares. */
type RouteDoc = {
  route: Route
  policies: Obj[]
  validate: Obj | undefined
  parameters: Obj[]
  /** The security requirements; `[]` for a public operation. */
  sec: Obj[]
  version: NonNullable<Versioning>['versions'][string] | undefined
}

/**
 * The route's path in the document (under `/<version>` with `versioning.prefix`), its parameters
 * (path, match conditions, the version header, `validate`'s query and headers; each once), and
 * whether it matches only some requests to that path (`conditional`).
 */
function routeParameters(route: Route, validate: Obj | undefined, versioning: Versioning): { path: string; parameters: Obj[]; conditional: boolean } {
  const { path: own, params } = openApiPath(route.match.path)
  const path = route.version !== undefined && versioning?.prefix ? `/${route.version}${own === '/' ? '' : own}` : own
  const match = route.match
  const conditions = [
    ...Object.entries(match.headers ?? {}).map(([n, r]) => conditionParam(n, 'header', r)),
    ...Object.entries(match.query ?? {}).map(([n, r]) => conditionParam(n, 'query', r)),
  ].filter((p): p is Obj => p !== undefined)
  const conditional = conditions.length > 0 || match.host !== undefined || match.sourceIp !== undefined || match.country !== undefined
  if (route.version !== undefined && !versioning?.prefix && versioning?.headers[0]) {
    conditions.push({ name: versioning.headers[0], in: 'header', required: route.version !== versioning.default, schema: { const: route.version } })
  }
  const parameters: Obj[] = []
  for (const p of [...params, ...conditions, ...schemaParams(validate?.query, 'query'), ...schemaParams(validate?.headers, 'header')]) {
    if (!parameters.some((q) => q.in === p.in && q.name.toLowerCase() === p.name.toLowerCase())) parameters.push(p)
  }
  return { path, parameters, conditional }
}

/** One method's operation of a route; `methods` is all of the route's, for its `operationId`. */
function operationOf({ route, policies, validate, parameters, sec, version }: RouteDoc, method: string, methods: string[]): Obj {
  const action = route.action as Obj
  return {
    tags: [route.id],
    ...(route.description && { summary: route.description }),
    operationId: methods.length === 1 ? route.id : `${route.id}-${method}`,
    ...(parameters.length > 0 && { parameters }),
    ...(validate?.body !== undefined && !NO_BODY.has(method) && { requestBody: { required: true, content: { 'application/json': { schema: validate.body } } } }),
    responses: responsesOf(route, policies, validate, sec.length > 0),
    // `[]` says "no authentication" outright, whatever a reader assumes for an operation without `security`.
    security: sec,
    ...(version?.deprecated && { deprecated: true, 'x-deprecated-at': version.deprecated }),
    ...(version?.sunset && { 'x-sunset': version.sunset }),
    ...(route.version !== undefined && { 'x-edgeway-version': route.version }),
    ...(route.match.host !== undefined && { 'x-edgeway-host': route.match.host }),
    // OpenAPI 3.1 has no "any method" operation: the route's five are marked as one, so a reader
    // (the portal) can show them as one entry.
    ...(route.match.methods === undefined && { 'x-edgeway-any-method': true }),
    ...(action.type === 'aggregate' && { 'x-edgeway-aggregate': aggregateExtension(action) }),
    ...limits(policies),
    ...accessOf(policies),
    'x-edgeway-route': route.id,
  }
}

/** One operation per path and method: the one most callers get, with the competing routes as variants. */
function pathsOf(slots: Map<string, Candidate[]>): Obj {
  const paths: Obj = {}
  for (const [key, list] of slots) {
    const [path, method] = key.split(' ') as [string, string]
    // The operation most callers get: an unconditional route, of the default version, else the first.
    const primary = list.find((c) => !c.conditional && c.preferred) ?? list.find((c) => !c.conditional) ?? list[0]!
    const variants = list.filter((c) => c !== primary).map((c) => ({ route: c.route.id, when: { headers: c.route.match.headers, query: c.route.match.query, host: c.route.match.host, sourceIp: c.route.match.sourceIp, country: c.route.match.country, version: c.route.version } }))
    ;(paths[path] ??= {})[method] = { ...primary.op, ...(variants.length > 0 && { 'x-edgeway-variants': variants }) }
  }
  return paths
}

export function buildOpenApi(config: OpenApiSource, env: Env): Obj {
  const settings = config.gateway.openapi ?? { path: '/openapi.json', version: '1.0.0', exclude: [] }
  const versioning = config.versioning
  const { schemes, add } = schemeRegistry()
  const { schemas, publish } = schemaComponents()
  const slots = new Map<string, Candidate[]>()
  const tags: Obj[] = []
  for (const route of config.routes) {
    if (settings.exclude.includes(route.id)) continue
    const policies = [...config.policies, ...route.policies] as Obj[] as (PolicyView & Obj)[]
    const validate = publishedValidate(policies.find((p) => p.type === 'validate') as Obj | undefined, route.id, publish)
    const version = route.version !== undefined ? own(versioning?.versions, route.version) : undefined
    const { path, parameters, conditional } = routeParameters(route, validate, versioning)
    const sec = securityOf(policies, env, add)
    const match = route.match
    const methods = match.methods ? match.methods.filter((m) => m !== 'HEAD' || !match.methods!.includes('GET')).map((m) => m.toLowerCase()) : ANY_METHOD
    tags.push({ name: route.id, ...(route.description && { description: route.description }) })
    const doc: RouteDoc = { route, policies, validate, parameters, sec, version }
    for (const method of methods) {
      const key = `${path} ${method}`
      const list = slots.get(key) ?? []
      list.push({ route, method, op: operationOf(doc, method, methods), conditional, preferred: route.version === undefined || route.version === versioning?.default })
      slots.set(key, list)
    }
  }
  const paths = pathsOf(slots)

  return {
    openapi: '3.1.0',
    info: { title: settings.title ?? config.gateway.name, version: settings.version, ...(settings.description && { description: settings.description }) },
    // No `servers` means the document's own origin (OpenAPI 3.1, 4.8.1), where the gateway serves it.
    ...(settings.servers && { servers: settings.servers }),
    tags,
    paths,
    components: {
      ...(Object.keys(schemas).length > 0 && { schemas }),
      securitySchemes: schemes,
    },
    ...(versioning && { 'x-edgeway-versions': versioning.versions }),
  }
}
