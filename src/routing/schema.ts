/**
 * @module
 * Config schema of what routing owns: a route's `match` conditions (path, methods, host, headers,
 * query, client address and country) and API versioning (`versioning`, a route's `version`).
 */
import * as v from 'valibot'
import { CountryCode, HeaderName, IpRangeString, Name, RegexString } from '../core/schema'
import { HTTP_METHODS } from './methods'

// A condition object must test something, and "absent" cannot also test a value (it could never match).
const HeaderConditionSchema = v.union([
  v.string(),
  v.pipe(
    v.strictObject({
      equals: v.optional(v.string()),
      regex: v.optional(RegexString),
      present: v.optional(v.boolean()),
    }),
    v.check((c) => c.equals !== undefined || c.regex !== undefined || c.present !== undefined, 'set "equals", "regex" or "present"'),
    v.check((c) => c.present !== false || (c.equals === undefined && c.regex === undefined), '"present": false cannot be combined with "equals" or "regex"'),
  ),
])

const QueryConditionSchema = v.union([
  v.string(),
  v.pipe(
    v.strictObject({ equals: v.optional(v.string()), present: v.optional(v.boolean()) }),
    v.check((c) => c.equals !== undefined || c.present !== undefined, 'set "equals" or "present"'),
    v.check((c) => c.present !== false || c.equals === undefined, '"present": false cannot be combined with "equals"'),
  ),
])

export const MatchSchema = v.strictObject({
  path: v.pipe(
    v.optional(v.pipe(v.string(), v.startsWith('/', 'must start with "/"')), '/*'),
    v.description(SCHEMA_DOCS ? 'Path pattern: `/users/:id`, `/files/*` (tail as `params.*`), `/x/:rest{.+}`.' : ''),
  ),
  methods: v.optional(v.pipe(v.array(v.picklist(HTTP_METHODS)), v.minLength(1))),
  host: v.pipe(
    v.optional(v.union([v.string(), v.array(v.string())])),
    v.description(SCHEMA_DOCS ? 'Exact host or `*.example.com` (any subdomain); a list matches any.' : ''),
  ),
  headers: v.pipe(
    v.optional(v.record(HeaderName, HeaderConditionSchema)),
    v.description(SCHEMA_DOCS ? 'Header name -> exact value, or `{ "equals" | "regex" | "present" }`.' : ''),
  ),
  query: v.pipe(
    v.optional(v.record(v.string(), QueryConditionSchema)),
    v.description(SCHEMA_DOCS ? 'Query parameter -> exact value, or `{ "equals" | "present" }`.' : ''),
  ),
  sourceIp: v.pipe(
    v.optional(v.pipe(v.array(IpRangeString), v.minLength(1, 'list at least one address or range'))),
    v.description(SCHEMA_DOCS ? 'Client addresses (`CF-Connecting-IP`) or CIDR ranges, IPv4 or IPv6; any one matches.' : ''),
  ),
  country: v.pipe(
    v.optional(v.pipe(v.array(CountryCode), v.minLength(1, 'list at least one country code'))),
    v.description(SCHEMA_DOCS ? 'Client countries (`request.cf.country`, ISO 3166-1 alpha-2, `XX`, `T1`); any one matches.' : ''),
  ),
})

const VersionSchema = v.strictObject({
  deprecated: v.pipe(
    v.optional(v.pipe(v.string(), v.isoTimestamp())),
    v.description(SCHEMA_DOCS ? 'ISO time the version was deprecated: sends a `Deprecation` header (RFC 9745).' : ''),
  ),
  sunset: v.pipe(v.optional(v.pipe(v.string(), v.isoTimestamp())), v.description(SCHEMA_DOCS ? 'Sends a `Sunset` header (RFC 8594).' : '')),
  link: v.pipe(v.optional(v.pipe(v.string(), v.url())), v.description(SCHEMA_DOCS ? 'Migration guide, sent as `Link: <...>; rel="deprecation"`.' : '')),
})

export const VersioningSchema = v.strictObject({
  prefix: v.pipe(v.optional(v.boolean(), true), v.description(SCHEMA_DOCS ? 'Select a version by a leading path segment (`/v1/...`).' : '')),
  headers: v.optional(v.array(HeaderName), ['api-version', 'accept-version']),
  default: v.optional(Name),
  versions: v.record(Name, VersionSchema),
})

export type MatchConfig = v.InferOutput<typeof MatchSchema>
export type VersioningConfig = v.InferOutput<typeof VersioningSchema>
