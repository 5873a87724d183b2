/**
 * @module
 * Fetches a small JSON document (a JWKS, an OIDC discovery document) from an identity provider,
 * with a timeout and a size cap enforced while the body streams in: a hostile or broken endpoint
 * can't make the gateway buffer an unbounded body.
 */
import { readUpTo } from '../core/body'
import { systemRuntime, type Runtime } from '../core/runtime'

export class FetchJsonError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FetchJsonError'
  }
}

/** Reads a body as text, failing as soon as it exceeds `maxBytes`. */
export async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0')
  if (declared > maxBytes) {
    await res.body?.cancel()
    throw new FetchJsonError(`response declares ${declared} bytes, over the cap of ${maxBytes}`)
  }
  if (!res.body) return ''
  const bytes = await readUpTo(res.body, maxBytes)
  if (!bytes) throw new FetchJsonError(`response over the cap of ${maxBytes} bytes`)
  return new TextDecoder().decode(bytes)
}

/**
 * GETs `url` (or sends `init`: the portal's token request) and parses its JSON body. Redirects are
 * not followed: the configured URL is the one trusted. `timeoutMs` bounds the whole exchange, body
 * included, on the caller's runtime timers.
 */
export async function fetchJson(url: string, maxBytes: number, timeoutMs: number, runtime: Runtime = systemRuntime, init: RequestInit = {}): Promise<unknown> {
  const controller = new AbortController()
  const timer = runtime.setTimeout(() => controller.abort(new DOMException('The operation timed out.', 'TimeoutError')), timeoutMs)
  try {
    let res: Response
    try {
      res = await fetch(url, { ...init, headers: { accept: 'application/json', ...(init.headers as Record<string, string>) }, redirect: 'manual', signal: controller.signal })
    } catch (cause) {
      throw new FetchJsonError('unreachable', { cause })
    }
    if (res.status !== 200) {
      await res.body?.cancel()
      throw new FetchJsonError(`HTTP ${res.status}`)
    }
    const text = await readCapped(res, maxBytes)
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new FetchJsonError('not JSON', { cause })
    }
  } finally {
    runtime.clearTimeout(timer)
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/**
 * Why a key-material URL is unacceptable, or undefined: it must be https, except on the loopback
 * interface (local development and tests).
 */
export function keyUrlProblem(source: string): string | undefined {
  let url: URL
  try {
    url = new URL(source)
  } catch {
    return `"${source}" is not an absolute URL`
  }
  if (url.protocol === 'https:') return undefined
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return undefined
  return 'must be an https URL (http only on 127.0.0.1 or localhost)'
}
