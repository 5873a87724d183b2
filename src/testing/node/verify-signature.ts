/**
 * The reference verifier for Edgeway's origin signature (`origin-auth` policy), as an origin would
 * run it; docs/traffic.md shows this same code. The test origin uses it on `/signed/...`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

export type Verdict = { ok: true; rid: string } | { ok: false; reason: string }

/**
 * Checks `X-Edgeway-Signature: t=<unix>,rid=<nonce>,v1=<hex>` for a request with `method` and raw
 * `target` (path and query, e.g. Node's `req.url`). `rid` is unique per upstream try (the request
 * id, a dot, 16 hex digits): `seen` remembers it for the window, so each signed try passes once.
 */
export function verifyEdgewaySignature(
  header: string | undefined,
  method: string,
  target: string,
  secret: string,
  seen: Map<string, number>,
  windowSeconds = 300,
  now = Math.floor(Date.now() / 1000),
): Verdict {
  if (!header) return { ok: false, reason: 'missing signature' }
  const fields = new Map(header.split(',').map((part) => part.trim().split('=', 2) as [string, string]))
  const t = Number(fields.get('t'))
  const rid = fields.get('rid')
  const mac = fields.get('v1')
  if (!Number.isInteger(t) || !rid || !mac || !/^[0-9a-f]{64}$/.test(mac)) return { ok: false, reason: 'malformed signature' }
  if (Math.abs(now - t) > windowSeconds) return { ok: false, reason: 'outside the replay window' }
  const expected = createHmac('sha256', secret).update(`${t}\n${rid}\n${method}\n${target}`).digest()
  if (!timingSafeEqual(expected, Buffer.from(mac, 'hex'))) return { ok: false, reason: 'bad signature' }
  for (const [id, at] of seen) if (now - at > windowSeconds) seen.delete(id) // forget what the window no longer covers
  if (seen.has(rid)) return { ok: false, reason: 'replayed' }
  seen.set(rid, t)
  return { ok: true, rid }
}
