/**
 * @module
 * Sticky sessions, ALB-style and opt-in: the first response sets a cookie naming the target
 * (its id, never its address); later requests carrying it go to that target while it is available.
 * A sticky target that is down (unhealthy, ejected, circuit open) is replaced, not kept: the request
 * goes wherever the balancer sends it and the cookie is rewritten to name the new target.
 */
import { cookieValue } from './balancer'
import type { Target } from './pool'

export type Sticky = {
  cookieName: string
  /** The target the request's cookie names, if it names one of ours. */
  fromCookie(cookieHeader: string | null): Target | undefined
  /** The `Set-Cookie` value pinning a client to `target`. */
  setCookie(target: Target): string
}

export function createSticky(upstream: string, config: { cookie?: string | undefined; duration: number }, targets: Target[]): Sticky {
  const cookieName = stickyCookieName(upstream, config.cookie)
  const byId = new Map(targets.map((t) => [t.id, t]))
  return {
    cookieName,
    fromCookie(header) {
      const id = decodeTargetId(cookieValue(header, cookieName))
      return id === undefined ? undefined : byId.get(id)
    },
    setCookie(target) {
      return stickyCookie(cookieName, target.id, config.duration)
    },
  }
}

/** The cookie a sticky upstream sets: the configured name, else `edgeway-<upstream>`. */
export function stickyCookieName(upstream: string, cookie: string | undefined): string {
  return cookie ?? `edgeway-${upstream}`
}

/** The target id a sticky cookie's value names; undefined for a malformed one (ignored, as if absent). */
export function decodeTargetId(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  try {
    return decodeURIComponent(value)
  } catch {
    return undefined
  }
}

/** The `Set-Cookie` value pinning a client to the target `id` (the cache re-pins clients on a hit). */
export function stickyCookie(cookieName: string, id: string, duration: number): string {
  return `${cookieName}=${encodeURIComponent(id)}; Max-Age=${duration}; Path=/; HttpOnly; Secure; SameSite=Lax`
}
