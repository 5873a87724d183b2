/**
 * @module
 * The admin-only dashboard, under the admin prefix (default `/_edgeway`):
 *
 *   POST {prefix}/login          admin token (form field or JSON `token`) -> session cookie
 *   POST {prefix}/logout         removes the cookie
 *   GET  {prefix}/dashboard/     the page (static assets, read from the ASSETS binding only after
 *                                the caller is authenticated); without a session: the login form
 *   GET  {prefix}/metrics?window=5m|15m|1h|6h|24h   the numbers it shows (JSON)
 *   GET  {prefix}/metrics?format=prometheus          the cumulative totals, for a Prometheus scrape
 *   GET  {prefix}/upstreams      each upstream's targets: breakers and ejection as this isolate sees
 *                                them, a pool's shared active health (`upstream/admin.ts`)
 *
 * Each accepts the session cookie or `Authorization: Bearer <admin token>`. An anonymous visitor
 * gets the login form or a 401 problem: never the page's files, never data. Wrong tokens (login or
 * bearer) count against the caller's IP like the admin API's (`ctx.guardToken`).
 */
import type { Context, Hono } from 'hono'
import { getCookie } from 'hono/cookie'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { boundedBodyText, secretsEqual, type AdminContext } from '../core/admin'
import { isJsonType } from '../core/body'
import type { AppEnv } from '../core/context'
import { GatewayError } from '../core/errors'
import type { AggregatorNamespace } from './batcher'
import { metricsSettingsOf, type MetricsAggregatorSettings } from './schema'
import { queryMetrics, WINDOWS, type WindowName } from './query'
import { PROMETHEUS_CONTENT_TYPE, prometheusText, queryTotals } from './prometheus'
import { loginPage } from './dashboard-login-page'
import { SESSION_COOKIE, SESSION_SECONDS, sessionCookie, signSession, verifySession } from './dashboard-session'

/** Where the dashboard's files live in the static assets (whatever the admin prefix is). */
const ASSET_DIR = '/_edgeway/dashboard/'
const MAX_TOKEN = 4096
/** A login body: room for the longest token and the JSON or form around it. */
const MAX_LOGIN_BODY = 4096

const PAGE_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
}
const LOGIN_HEADERS = {
  ...PAGE_HEADERS,
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'Content-Type': 'text/html; charset=utf-8',
  'WWW-Authenticate': 'Bearer realm="edgeway-admin"',
}

const unauthorized = () =>
  new GatewayError('ERR_UNAUTHORIZED', {
    detail: 'The dashboard needs a session (POST the admin token to the login endpoint) or a bearer token.',
    headers: { 'WWW-Authenticate': 'Bearer realm="edgeway-admin"' },
  })

/** What every dashboard endpoint shares: where it is mounted, the admin token, and the checks of a caller. */
type Dashboard = {
  prefix: string
  token: string
  /** Compares a presented token; counts it when wrong, and throws 429 while this IP is blocked. */
  tokenOk(c: Context<AppEnv>, given: string): Promise<boolean>
  /** Whether the caller has a session cookie or presents the admin token as a bearer token. */
  authenticated(c: Context<AppEnv>): Promise<boolean>
  /** Counts a wrong token (`ok` false); throws 429 while this IP is blocked. */
  guard: AdminContext['guardToken']
  /** The login form: a 401, or the status (and headers, `Retry-After`) of the error that refused a login, with its reason. */
  login(c: Context<AppEnv>, message?: string, refusal?: GatewayError): Response
}

function dashboardOf(ctx: AdminContext): Dashboard {
  const { prefix, tokenSecret } = ctx.config.gateway.admin
  const token = ctx.env[tokenSecret] as string
  const guard = ctx.guardToken
  const tokenOk = async (c: Context<AppEnv>, given: string) => {
    const ok = given.length <= MAX_TOKEN && (await secretsEqual(given, token))
    await guard(c, ok)
    return ok
  }
  const authenticated = async (c: Context<AppEnv>): Promise<boolean> => {
    c.get('log').admin = true
    const bearer = /^Bearer\s+(.+)$/i.exec(c.req.header('authorization') ?? '')?.[1]
    if (bearer !== undefined) return tokenOk(c, bearer)
    // A session cookie is an HMAC nobody can guess: not counted, and no limiter round trip.
    return verifySession(token, getCookie(c, SESSION_COOKIE), c.get('runtime').now())
  }
  const login = (c: Context<AppEnv>, message?: string, refusal?: GatewayError) => {
    const status = (refusal?.status ?? 401) as ContentfulStatusCode
    // The challenge belongs to a 401 only; a 429 carries its Retry-After instead.
    const { 'WWW-Authenticate': challenge, ...headers } = LOGIN_HEADERS
    return c.body(loginPage(`${prefix}/login`, message), status, { ...headers, ...(status === 401 && { 'WWW-Authenticate': challenge }), ...refusal?.headers })
  }
  return { prefix, token, tokenOk, guard, authenticated, login }
}

/** The token a login presents: a JSON `token` or a form field, from a body of at most `MAX_LOGIN_BODY` bytes. */
async function presentedToken(c: Context<AppEnv>, json: boolean): Promise<string> {
  const text = await boundedBodyText(c, MAX_LOGIN_BODY)
  let given: unknown
  try {
    given = json ? (JSON.parse(text) as { token?: unknown } | null)?.token : (await new Response(text, { headers: { 'Content-Type': c.req.header('content-type') ?? '' } }).formData()).get('token')
  } catch {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: json ? 'The body is not valid JSON.' : 'The body is not a form.' })
  }
  if (typeof given !== 'string' || given === '') {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: json ? 'Give the admin token as {"token": "..."}.' : 'Enter the admin token.' })
  }
  return given
}

/**
 * `POST {prefix}/login`: the admin token (form field or JSON) for a session cookie. A blocked
 * address is refused before its body is read, and the body is capped, so a locked-out guesser
 * costs one counter read. A browser (a form post) gets every refusal as the form with the reason.
 */
async function logIn(c: Context<AppEnv>, { prefix, token, guard, login }: Dashboard) {
  c.get('log').admin = true
  const json = isJsonType(c.req.header('content-type') ?? null)
  try {
    // `ok` true only asks whether this address is blocked: nothing is counted.
    await guard(c, true)
    const given = await presentedToken(c, json)
    if (!(given.length <= MAX_TOKEN && (await secretsEqual(given, token)))) {
      await guard(c, false)
      throw new GatewayError('ERR_UNAUTHORIZED', { detail: 'Wrong admin token.' })
    }
  } catch (err) {
    if (json || !(err instanceof GatewayError)) throw err
    c.get('log').error = err.code
    return login(c, err.detail, err)
  }
  const cookie = sessionCookie(await signSession(token, Math.floor(c.get('runtime').now() / 1000) + SESSION_SECONDS), c.get('url'), prefix, SESSION_SECONDS)
  if (json) return c.body(null, 204, { 'Set-Cookie': cookie, 'Cache-Control': 'no-store' })
  return c.body(null, 303, { 'Set-Cookie': cookie, Location: `${prefix}/dashboard/`, 'Cache-Control': 'no-store' })
}

/** `GET {prefix}/dashboard/*`: a file of the page, from the static assets, once the caller is authenticated. */
async function serveFile(c: Context<AppEnv>, { prefix, authenticated, login }: Dashboard) {
  const file = c.get('url').pathname.slice(`${prefix}/dashboard/`.length)
  if (!(await authenticated(c))) {
    if (file === '' || file === 'index.html') return login(c)
    throw unauthorized()
  }
  const assets = c.env.ASSETS as Fetcher | undefined
  if (!assets || typeof assets.fetch !== 'function') {
    throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'The dashboard files are not deployed (no ASSETS binding; see [assets] in wrangler.toml).' })
  }
  if (!/^([A-Za-z0-9_-]+\.(html|js|css|svg))?$/.test(file)) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No such dashboard file.' })
  const res = await assets.fetch(new Request(new URL(ASSET_DIR + (file === 'index.html' ? '' : file), c.req.url)))
  if (!res.ok) {
    await res.body?.cancel()
    throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No such dashboard file.' })
  }
  const headers = new Headers(res.headers)
  for (const [name, value] of Object.entries(PAGE_HEADERS)) headers.set(name, value)
  return new Response(res.body, { status: 200, headers })
}

/**
 * `GET {prefix}/metrics?window=`: the numbers, from the metrics aggregator's shards; with
 * `format=prometheus`, the cumulative totals as the Prometheus text format (`./prometheus.ts`).
 */
async function metrics(c: Context<AppEnv>, env: AdminContext['env'], aggregator: MetricsAggregatorSettings | undefined, { authenticated }: Dashboard) {
  if (!(await authenticated(c))) throw unauthorized()
  const format = c.req.query('format') ?? 'json'
  if (format !== 'json' && format !== 'prometheus') {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: `format must be json or prometheus; got "${format.slice(0, 20)}".` })
  }
  const window = c.req.query('window') ?? '5m'
  if (!Object.hasOwn(WINDOWS, window)) {
    throw new GatewayError('ERR_BAD_REQUEST', { detail: `window must be one of ${Object.keys(WINDOWS).join(', ')}; got "${window.slice(0, 20)}".` })
  }
  const namespace = aggregator ? (env[aggregator.binding] as AggregatorNamespace | undefined) : undefined
  if (!aggregator || !namespace) {
    throw new GatewayError('ERR_METRICS_UNAVAILABLE', {
      detail: aggregator ? `No Durable Object binding "${aggregator.binding}" for the metrics aggregator.` : 'The metrics aggregator is off (set gateway.metrics.aggregator).',
    })
  }
  if (format === 'prometheus') {
    const text = prometheusText(await queryTotals(namespace, aggregator))
    return c.body(text, 200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' })
  }
  const result = await queryMetrics(namespace, aggregator, window as WindowName, c.get('runtime').now())
  return c.json(result, 200, { 'Cache-Control': 'no-store' })
}

export function dashboard(app: Hono<AppEnv>, ctx: AdminContext): void {
  const board = dashboardOf(ctx)
  const aggregator = metricsSettingsOf(ctx.config).aggregator
  const { prefix, authenticated, login } = board
  app.post('/login', async (c) => logIn(c, board))
  app.post('/logout', (c) => {
    c.get('log').admin = true
    return c.body(null, 303, { 'Set-Cookie': sessionCookie('', c.get('url'), prefix, 0), Location: `${prefix}/dashboard/` })
  })
  app.get('/dashboard', async (c) => ((await authenticated(c)) ? c.redirect(`${prefix}/dashboard/`, 302) : login(c)))
  app.get('/dashboard/*', async (c) => serveFile(c, board))
  app.get('/metrics', async (c) => metrics(c, ctx.env, aggregator, board))
  app.get('/upstreams', async (c) => {
    if (!(await authenticated(c))) throw unauthorized()
    const status = ctx.upstreamStatus
    if (!status) throw new GatewayError('ERR_ROUTE_NOT_FOUND', { detail: 'No upstream state here.' })
    return c.json(await status(c), 200, { 'Cache-Control': 'no-store' })
  })
}
