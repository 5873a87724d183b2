/**
 * @module
 * The document's security: the schemes of the `jwt`, `api-key`, `basic-auth`, `http-signature` and `mtls` policies (named by content, so
 * routes sharing one policy share one scheme) and each operation's requirements, read from the
 * policies as plain config (see `./document`).
 */
import type { Env } from '../core/env'

type Obj = Record<string, any>

const substitute = (text: string, env: Env) => text.replace(/\$\{(\w+)\}/g, (m, name: string) => (typeof env[name] === 'string' ? (env[name] as string) : m))

/** Security schemes, named by content so routes sharing one policy share one scheme. */
export function schemeRegistry() {
  const schemes: Obj = {}
  const names = new Map<string, string>()
  const add = (base: string, scheme: Obj) => {
    const key = JSON.stringify(scheme)
    let name = names.get(key)
    if (!name) {
      name = base
      for (let n = 2; schemes[name]; n++) name = `${base}${n}`
      schemes[name] = scheme
      names.set(key, name)
    }
    return name
  }
  return { schemes, add }
}

type Way = [scheme: string, scopes: string[]]

/** OpenAPI reads the scopes of one requirement as "all of them": `scopesMatch: "any"` is one requirement per scope. */
function scopeAlternatives(p: Obj): string[][] {
  const scopes = (p.scopes ?? []) as string[]
  return p.scopesMatch === 'any' && scopes.length > 1 ? scopes.map((s) => [s]) : [scopes]
}

/**
 * A `jwt` policy's ways in. OpenAPI reads the scopes of one requirement as "all of them", so
 * `scopesMatch: "any"` is one requirement per scope.
 */
function jwtWays(p: Obj, env: Env, add: (base: string, scheme: Obj) => string): Way[] {
  const issuers = ((p.issuers ?? []) as Obj[]).map((i) => substitute(String(i.issuer), env))
  const description = `A JWT from ${issuers.join(' or ')}`
  const header = p.token?.header ?? 'Authorization'
  const alternatives = scopeAlternatives(p)
  const scheme = header.toLowerCase() === 'authorization'
    ? { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description, 'x-issuers': issuers }
    : { type: 'apiKey', in: 'header', name: header, description, 'x-issuers': issuers }
  const names = [add('jwt', scheme)]
  if (p.token?.cookie) names.push(add('jwtCookie', { type: 'apiKey', in: 'cookie', name: p.token.cookie, description, 'x-issuers': issuers }))
  return names.flatMap((name) => alternatives.map((s): Way => [name, s]))
}

/**
 * The operation's security alternatives: one requirement object per way in; `[]` (explicitly
 * none) when no policy authenticates callers.
 */
export function securityOf(policies: Obj[], env: Env, add: (base: string, scheme: Obj) => string): Obj[] {
  let requirements: Obj[] = [{}]
  let any = false
  for (const p of policies) {
    const ways: Way[] = []
    if (p.type === 'jwt') ways.push(...jwtWays(p, env, add))
    else if (p.type === 'api-key') {
      ways.push([add('apiKey', { type: 'apiKey', in: 'header', name: p.header ?? 'X-API-Key', description: 'An API key' }), []])
      if (p.query) ways.push([add('apiKeyQuery', { type: 'apiKey', in: 'query', name: p.query, description: 'An API key' }), []])
    } else if (p.type === 'oauth') {
      const description = 'An OAuth 2.0 access token, checked by token introspection'
      const header = p.token?.header ?? 'Authorization'
      const name = add('oauth', header.toLowerCase() === 'authorization' ? { type: 'http', scheme: 'bearer', description } : { type: 'apiKey', in: 'header', name: header, description })
      ways.push(...scopeAlternatives(p).map((scopes): Way => [name, scopes]))
    } else if (p.type === 'basic-auth') {
      ways.push([add('basicAuth', { type: 'http', scheme: 'basic', description: `HTTP Basic, realm "${p.realm ?? 'api'}"` }), []])
    } else if (p.type === 'http-signature') {
      // OpenAPI has no scheme for RFC 9421: the `Signature` header as an apiKey, with what it must cover.
      const components = (p.components ?? ['@method', '@authority', '@path']) as string[]
      const digest = p.contentDigest === false ? '' : ', and content-digest (RFC 9530) when there is a body'
      const description = `An HTTP message signature (RFC 9421: Signature-Input and Signature) covering ${components.join(', ')}${digest}`
      const scheme = { type: 'apiKey', in: 'header', name: 'Signature', description, 'x-covered-components': components }
      ways.push([add('httpSignature', scheme), []])
    } else if (p.type === 'mtls') {
      ways.push([add('mutualTLS', { type: 'mutualTLS', description: 'A client certificate (TLS), verified by Cloudflare' }), []])
    } else continue
    any = true
    requirements = requirements.flatMap((req) => ways.map(([name, scopes]) => ({ ...req, [name]: scopes })))
  }
  return any ? requirements : []
}

/** Whether a policy can refuse an authenticated or allowed caller with 403 (missing scopes, IP rules). */
export function canForbid(policies: Obj[]): boolean {
  return policies.some((p) => ((p.type === 'jwt' || p.type === 'oauth') && Array.isArray(p.scopes) && p.scopes.length > 0) || p.type === 'ip-rules' || p.type === 'acl')
}

/**
 * The groups and plans `acl` policies let in, as `x-edgeway-access` (the portal shows them).
 * Consumer ids, claims and deny lists stay out: they may name people or internal roles.
 */
export function accessOf(policies: Obj[]): Obj {
  const allows = policies.filter((p) => p.type === 'acl' && p.allow).map((p) => p.allow as Obj)
  const groups = [...new Set(allows.flatMap((a) => (a.groups ?? []) as string[]))]
  const plans = [...new Set(allows.flatMap((a) => (a.plans ?? []) as string[]))]
  if (groups.length === 0 && plans.length === 0) return {}
  return { 'x-edgeway-access': { ...(groups.length > 0 && { groups }), ...(plans.length > 0 && { plans }) } }
}
