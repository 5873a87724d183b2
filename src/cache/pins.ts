/**
 * @module
 * The gateway's own sticky-session cookies (upstream `sticky`) around the cache.
 *
 * The upstream client sets its cookie inside the cache phase, but the cookie belongs to one client,
 * not to the origin's response: it is taken off before a response is judged and stored (else
 * `Set-Cookie` would forbid storing anything) and given back to that client. The entry remembers
 * which target produced it, so a hit pins a client that isn't pinned yet to that target, as the
 * proxy would have. And a request whose only cookies are these carries no credentials.
 */
import { cookieValue } from '../upstream/balancer'
import { targetId } from '../upstream/pool'
import { decodeTargetId, stickyCookie, stickyCookieName } from '../upstream/sticky'
import { own } from '../core/record'

type Pool = { cookie: string; duration: number; ids: Set<string> }
/** The parts of the config read here (structural: the config's type depends on the policies). */
type UpstreamsConfig = Record<string, { sticky?: { cookie?: string | undefined; duration: number } | undefined; targets?: { id?: string | undefined }[] | undefined; fallback?: unknown }>

export type Pins = {
  /** The names of every sticky cookie the gateway sets (none of them is a credential). */
  names: ReadonlySet<string>
  /**
   * Takes the gateway's sticky `Set-Cookie` lines off `headers` (mutable) and returns them, with
   * `cookie=id` for each target of this route that produced the response.
   */
  take(headers: Headers, request: Headers): { cookies: string[]; pinned: string[] }
  /** `Set-Cookie` lines pinning a client not pinned yet to the targets that produced an entry. */
  restore(pinned: readonly string[], request: Headers): string[]
}

const cookieName = (setCookie: string) => setCookie.slice(0, setCookie.indexOf('=')).trim()

/** Upstream names anywhere in an action (`upstream` keys, a fallback's too). */
function upstreamsOf(value: unknown, out: Set<string>, depth = 0): Set<string> {
  if (depth > 8 || !value || typeof value !== 'object') return out
  for (const [k, item] of Object.entries(value)) {
    if (k === 'upstream' && typeof item === 'string') out.add(item)
    else upstreamsOf(item, out, depth + 1)
  }
  return out
}

export function compilePins(upstreams: UpstreamsConfig, route: { action: unknown } | undefined): Pins {
  const pools = new Map<string, Pool>()
  for (const [name, upstream] of Object.entries(upstreams)) {
    if (!upstream.sticky) continue
    const ids = new Set((upstream.targets ?? []).map(targetId))
    pools.set(name, { cookie: stickyCookieName(name, upstream.sticky.cookie), duration: upstream.sticky.duration, ids })
  }
  const names = new Set([...pools.values()].map((p) => p.cookie))
  const used = route ? upstreamsOf(route.action, new Set()) : new Set(pools.keys())
  for (const name of [...used]) upstreamsOf(own(upstreams, name)?.fallback, used)
  const mine = [...used].flatMap((name) => (pools.has(name) ? [pools.get(name)!] : []))
  const known = (pool: Pool, value: string | undefined) => {
    const id = decodeTargetId(value)
    return id !== undefined && pool.ids.has(id) ? id : undefined
  }

  return {
    names,
    take(headers, request) {
      const all = (headers as Headers & { getSetCookie(): string[] }).getSetCookie()
      const cookies = all.filter((line) => names.has(cookieName(line)))
      if (cookies.length > 0) {
        headers.delete('set-cookie')
        for (const line of all) if (!cookies.includes(line)) headers.append('set-cookie', line)
      }
      const pinned: string[] = []
      for (const pool of mine) {
        const set = cookies.find((line) => cookieName(line) === pool.cookie)
        // No new cookie: the client's own cookie named the target that answered.
        const id = known(pool, set ? set.slice(set.indexOf('=') + 1).split(';')[0]!.trim() : cookieValue(request.get('cookie'), pool.cookie))
        if (id !== undefined) pinned.push(`${pool.cookie}=${encodeURIComponent(id)}`)
      }
      return { cookies, pinned }
    },
    restore(pinned, request) {
      const out: string[] = []
      for (const pool of mine) {
        if (known(pool, cookieValue(request.get('cookie'), pool.cookie)) !== undefined) continue
        const id = known(pool, cookieValue(pinned.join(';'), pool.cookie))
        if (id !== undefined) out.push(stickyCookie(pool.cookie, id, pool.duration))
      }
      return out
    },
  }
}
