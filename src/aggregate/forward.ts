/**
 * @module
 * Which request headers an aggregation's calls carry (`forwardHeaders`). A call may go to a third
 * party, so the client's own headers reach it only when the config names them: the client's token
 * or session must never travel further than the route says.
 *
 * The request's upstream draft is split once per request, by who put each header there:
 * - the gateway's: headers the gateway and its policies set or changed (`X-Forwarded-*`,
 *   `traceparent`, the request id, forwarded claims, a `headers` edit such as a fixed upstream
 *   `Authorization`). Every call carries these.
 * - the client's: headers still as the client sent them. A call carries those its
 *   `forwardHeaders` names; `"*"` is all of them except credentials (Authorization, Cookie and
 *   API-key headers), which pass only by name.
 * A header a policy removed from the draft (an API key it hides) reaches no call.
 */

/** Client headers the gateway replaces with its own whatever their value: never the client's. */
const GATEWAY_OWNED = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'traceparent', 'tracestate']

/** The client's request headers that are its body's, or preconditions the gateway answers itself: never sent on a call. */
const CLIENT_ONLY_HEADERS = ['content-length', 'content-type', 'content-encoding', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range', 'range', 'expect']

/** Credentials `"*"` leaves out, besides the API-key headers the config's `api-key` policies read. */
const CREDENTIALS = ['authorization', 'proxy-authorization', 'cookie', 'x-api-key']

/** A request's headers for its calls, by who set them (see the module comment). */
export type CallHeaderSources = {
  gateway: Headers
  client: Headers
  /** Client header names (lower case) that carry credentials: `"*"` leaves them out. */
  credentials: ReadonlySet<string>
}

/**
 * Splits the upstream draft (`draft`) against what the client sent (`sent`). `apiKeyHeaders`: the
 * header names the config's `api-key` policies read; `requestId`: the id header every call carries.
 */
export function splitCallHeaders(
  draft: Headers,
  sent: Headers,
  apiKeyHeaders: readonly string[],
  requestId: { header: string; value: string } | undefined,
): CallHeaderSources {
  const gateway = new Headers()
  const client = new Headers()
  for (const [name, value] of draft) {
    if (CLIENT_ONLY_HEADERS.includes(name)) continue
    // Iteration gives lower-case names; `get` joins repeated headers as iteration does.
    if (!GATEWAY_OWNED.includes(name) && sent.get(name) === value) client.set(name, value)
    else gateway.set(name, value)
  }
  if (requestId) {
    gateway.set(requestId.header, requestId.value)
    client.delete(requestId.header)
  }
  return { gateway, client, credentials: new Set([...CREDENTIALS, ...apiKeyHeaders.map((name) => name.toLowerCase())]) }
}

/** Whether a client header reaches the call, by its `forwardHeaders`. Compiled once per call. */
export type ForwardFilter = (name: string, credentials: ReadonlySet<string>) => boolean

export function compileForward(list: readonly string[]): ForwardFilter {
  const named = new Set(list.map((name) => name.toLowerCase()))
  const all = named.delete('*')
  return (name, credentials) => named.has(name) || (all && !credentials.has(name))
}

/** How a header a call sent came to be there: what the aggregate's `Vary` may be built from. */
export type HeaderSource = 'client' | 'fixed'

/**
 * The headers of one call, and where each came from: `client` (as the client sent it, so a `Vary`
 * on it is a `Vary` on the client's header), `fixed` (the call's own constant value: the same for
 * every request). A header absent from `sources` came from the request some other way.
 */
export function callHeaders(sources: CallHeaderSources, forward: ForwardFilter): { headers: Headers; from: Map<string, HeaderSource> } {
  const headers = new Headers(sources.gateway)
  const from = new Map<string, HeaderSource>()
  for (const [name, value] of sources.client) {
    if (!forward(name, sources.credentials)) continue
    headers.set(name, value)
    from.set(name, 'client')
  }
  if (!headers.has('accept')) {
    headers.set('Accept', 'application/json')
    from.set('accept', 'fixed')
  }
  return { headers, from }
}
