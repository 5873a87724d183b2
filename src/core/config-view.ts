/**
 * @module
 * What a feature may read of the whole config besides its own options. The config's real type is
 * assembled in `config/` from every feature's schema, a floor above the features, so a feature
 * sees the config through these structural views instead of importing it (`config/schema.ts`
 * asserts at compile time that the assembled type fits them). A view lists only what some feature
 * reads; a section a feature owns (the `plans` of rate limits, an upstream's settings) it narrows
 * with its own schema's type, in one documented place.
 */

/** Any configured policy: features read other policies only by `type` and shape. */
export type PolicyView = { readonly type: string }

/** Any route action (`proxy`, `respond`, `redirect`, `aggregate`). */
export type ActionView = { readonly type: string }

export type RouteView = {
  readonly id: string
  readonly version?: string | undefined
  readonly deadline?: number | undefined
  readonly match: { readonly path: string }
  readonly policies: readonly PolicyView[]
  readonly action: ActionView
}

/** A configured consumer (`consumers.<id>`): what authentication, plans and templates read. */
export type ConsumerView = {
  readonly plan?: string | undefined
  readonly metadata?: Record<string, unknown> | undefined
  /** Groups the consumer belongs to (`acl` policies allow or deny by them). */
  readonly groups?: readonly string[] | undefined
  /** Names of Worker secrets holding the hex SHA-256 of the consumer's API keys. */
  readonly apiKeySecrets?: readonly string[] | undefined
  /** When set, only tokens from this issuer (exact `iss`) are this consumer. */
  readonly issuer?: string | undefined
}

export type ConfigView = {
  /** Gateway-wide settings; the sections features own (`metrics`, `openapi`...) they narrow. */
  readonly gateway: {
    readonly name: string
    readonly admin: { readonly prefix: string; readonly tokenSecret: string }
  } & Readonly<Record<string, unknown>>
  readonly routes: readonly RouteView[]
  /** Global policies, run on every route. */
  readonly policies: readonly PolicyView[]
  readonly consumers: Readonly<Record<string, ConsumerView>>
  /** Owned by rate limits (`rate-limit/schema.ts`, `plansOf`). */
  readonly plans: Readonly<Record<string, unknown>>
  /** Owned by `upstream/` (`upstream/schema.ts`, `upstreamsOf`). */
  readonly upstreams: Readonly<Record<string, unknown>>
}

