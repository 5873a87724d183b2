// Edgeway dashboard: reads ../metrics?window=... (same origin, session cookie) and draws it.
// No dependencies: the charts are small hand-written SVG line charts.
'use strict'

const REFRESH_MS = 5000
const SVG = 'http://www.w3.org/2000/svg'
let currentWindow = '5m'
let timer
let shown // the last metrics drawn, redrawn when the charts change size
let loads = 0 // only the latest load is shown: answers for windows picked before it arrive late

const $ = (id) => document.getElementById(id)
const fmt = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'))
const pct = (r) => (r === null || r === undefined ? '–' : `${(r * 100).toFixed(r < 0.1 ? 2 : 1)}%`)
const plural = new Intl.PluralRules('en-US')
/** "1 miss", "2 misses", "0 misses". */
const count = (n, one, other) => `${fmt(n)} ${plural.select(Number(n)) === 'one' ? one : other}`
const two = (n) => String(n).padStart(2, '0')
/** 24-hour local time, the same on the axes and in "Updated". */
const clock = (t, seconds = false) => `${two(t.getHours())}:${two(t.getMinutes())}${seconds ? `:${two(t.getSeconds())}` : ''}`

function setText(id, text, value) {
  const el = $(id)
  el.textContent = text
  if (value !== undefined) el.dataset.value = value === null ? '' : String(value)
}

function el(name, attrs = {}, parent) {
  const node = document.createElementNS(SVG, name)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (parent) parent.appendChild(node)
  return node
}

/**
 * A line chart: `lines` is [{ name, cls, values }], `labels` the x labels (ISO times). Drawn as wide
 * as its box, one unit a CSS pixel, so the labels show at their CSS size (a fixed viewBox scaled
 * down to a phone made 10 px labels 7 px tall).
 */
function lineChart(container, labels, lines) {
  const W = Math.max(240, Math.round(container.clientWidth) || 480), H = 190, L = 44, R = 8, T = 10, B = 24
  const max = Math.max(1, ...lines.flatMap((l) => l.values.map((v) => v ?? 0)))
  const nice = niceMax(max)
  const x = (i) => L + (labels.length <= 1 ? 0 : (i * (W - L - R)) / (labels.length - 1))
  const y = (v) => T + (H - T - B) * (1 - v / nice)
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': lines.map((l) => l.name).join(', ') })
  for (let k = 0; k <= 4; k++) {
    const v = (nice * k) / 4
    el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'gridline' }, svg)
    el('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, svg).textContent = short(v)
  }
  const ticks = Math.min(labels.length, 6)
  for (let k = 0; k < ticks; k++) {
    const i = ticks === 1 ? 0 : Math.round((k * (labels.length - 1)) / (ticks - 1))
    const t = new Date(labels[i])
    const anchor = k === 0 && ticks > 1 ? 'start' : k === ticks - 1 && ticks > 1 ? 'end' : 'middle'
    el('text', { x: x(i), y: H - 6, 'text-anchor': anchor, class: 'axis' }, svg).textContent = clock(t)
  }
  for (const line of lines) {
    const points = line.values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
    // Gaps (no data) split the line into runs.
    let run = []
    const flush = () => {
      if (run.length === 1) el('circle', { cx: run[0].split(',')[0], cy: run[0].split(',')[1], r: 2, class: `line ${line.cls}` }, svg)
      else if (run.length > 1) el('polyline', { points: run.join(' '), class: `line ${line.cls}` }, svg)
      run = []
    }
    for (const p of points) (p === null ? flush() : run.push(p))
    flush()
  }
  const legend = document.createElement('div')
  legend.className = 'legend'
  for (const line of lines) {
    const item = document.createElement('span')
    const swatch = document.createElement('i')
    swatch.className = line.cls
    item.append(swatch, line.name)
    legend.append(item)
  }
  container.replaceChildren(svg, legend)
}

function niceMax(v) {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}
// Two decimals: a scale up to 1 has its quarter lines at 0.25 and 0.75 (not "0.3", "0.8").
const short = (v) => (v >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(+v.toFixed(2)))

function fillTable(id, rows, cells, empty = 'No traffic in this window') {
  const body = $(id).querySelector('tbody')
  body.replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement('tr')
      for (const value of cells(row)) {
        const td = document.createElement('td')
        td.textContent = typeof value === 'number' ? fmt(value) : value ?? '–'
        tr.append(td)
      }
      return tr
    }),
  )
  if (rows.length === 0) {
    const tr = document.createElement('tr')
    const td = document.createElement('td')
    td.colSpan = $(id).querySelectorAll('th').length
    td.textContent = empty
    tr.append(td)
    body.append(tr)
  }
}

function render(data) {
  const t = data.totals
  setText('kpi-requests', fmt(t.requests), t.requests)
  setText('kpi-rate', `${t.ratePerSecond} req/s`, t.ratePerSecond)
  setText('kpi-error-rate', pct(t.errorRate), t.errorRate)
  setText('kpi-errors', count(t.errors, 'error', 'errors'), t.errors)
  setText('kpi-p50', fmt(t.latencyMs.p50), t.latencyMs.p50)
  setText('kpi-p95', fmt(t.latencyMs.p95), t.latencyMs.p95)
  setText('kpi-p99', fmt(t.latencyMs.p99), t.latencyMs.p99)
  setText('kpi-cache', pct(t.cacheHitRatio), t.cacheHitRatio)
  setText('kpi-cache-counts', `${count(t.cacheHits, 'hit', 'hits')}, ${count(t.cacheMisses, 'miss', 'misses')}`)
  setText('kpi-rate-limited', fmt(t.rateLimited), t.rateLimited)
  setText('kpi-auth-failed', fmt(t.authFailed), t.authFailed)
  setText('kpi-upstream-errors', fmt(t.upstreamErrors), t.upstreamErrors)
  setText('kpi-breaker-refusals', fmt(t.breakerRejections), t.breakerRejections)
  setText('kpi-breaker-opens', `${count(t.breakerOpens, 'circuit', 'circuits')} opened`, t.breakerOpens)
  drawCharts(data)
  fillTable('top-routes', data.topRoutes, (r) => [r.route, r.requests, r.errors, r.rateLimited, r.p95])
  fillTable('top-consumers', data.topConsumers, (r) => [r.consumer, r.requests, r.errors, r.rateLimited])
  fillTable('statuses', Object.entries(data.statuses), ([k, v]) => [k, v])
  const failed = data.shards.failed > 0 ? ` (${data.shards.failed} of ${data.shards.total} shards did not answer)` : ''
  const status = $('status')
  status.className = 'status'
  status.textContent = `Updated ${clock(new Date(), true)}${failed}`
  document.body.dataset.loaded = 'true'
}

function drawCharts(data) {
  shown = data
  const labels = data.series.map((s) => s.at)
  const col = (k) => data.series.map((s) => s[k])
  lineChart($('chart-requests'), labels, [
    { name: 'requests', cls: 's1', values: col('requests') },
    { name: '5xx', cls: 's2', values: col('errors') },
  ])
  lineChart($('chart-latency'), labels, [
    { name: 'p50', cls: 's4', values: col('p50') },
    { name: 'p95', cls: 's3', values: col('p95') },
    { name: 'p99', cls: 's2', values: col('p99') },
  ])
  lineChart($('chart-cache'), labels, [
    { name: 'cache hits', cls: 's4', values: col('cacheHits') },
    { name: 'cache misses', cls: 's1', values: col('cacheMisses') },
    { name: 'rate-limited', cls: 's2', values: col('rateLimited') },
  ])
}

async function load() {
  const status = $('status')
  const mine = ++loads
  // Apart from the metrics: the targets' state shows even when the aggregator is off or fails.
  loadUpstreams()
  try {
    const res = await fetch(`../metrics?window=${encodeURIComponent(currentWindow)}`, { credentials: 'same-origin', cache: 'no-store' })
    if (res.status === 401) {
      location.reload() // The session ended: the page turns into the login form.
      return
    }
    if (!res.ok) {
      const problem = await res.json().catch(() => ({}))
      throw new Error(problem.detail || `HTTP ${res.status}`)
    }
    const data = await res.json()
    if (mine === loads) render(data)
  } catch (err) {
    if (mine !== loads) return
    status.className = 'status error'
    status.textContent = `Could not load metrics: ${err.message}`
  }
}

/** One row per target: what its circuit, passive health and the pool's health check say now. */
function renderUpstreams(data) {
  const rows = data.upstreams.flatMap((u) => u.targets.map((t) => ({ upstream: u.name, ...t })))
  const seconds = (ms) => `${Math.ceil(ms / 1000)} s`
  const circuit = (b) => (!b ? '–' : b.state === 'open' ? `open (${seconds(b.reopensInMs)})` : b.state)
  const health = (h) => (h === undefined ? '–' : h === null ? 'unknown' : h.healthy ? 'healthy' : `unhealthy${h.last !== undefined ? ` (${h.last})` : ''}`)
  fillTable('upstreams', rows, (r) => [r.upstream, `${r.id}: ${r.target}`, r.weight, circuit(r.breaker), r.ejectedForMs ? seconds(r.ejectedForMs) : 'no', health(r.health)], 'No upstreams')
}

/** The upstreams' state, beside the metrics: a failure here leaves the rest of the page as it is. */
async function loadUpstreams() {
  try {
    const res = await fetch('../upstreams', { credentials: 'same-origin', cache: 'no-store' })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    renderUpstreams(await res.json())
  } catch (err) {
    fillTable('upstreams', [], () => [], `Could not load upstreams: ${err.message}`)
  }
}

function schedule() {
  clearInterval(timer)
  if ($('live').checked) timer = setInterval(load, REFRESH_MS)
}

/**
 * The window buttons are a radio group (WAI-ARIA APG): one tab stop, the checked button; arrow keys
 * move the selection (and the focus) to the previous or next window, Home and End to the ends.
 */
function windowPicker() {
  const buttons = [...document.querySelectorAll('[data-window]')]
  const choose = (button) => {
    for (const b of buttons) {
      b.setAttribute('aria-checked', String(b === button))
      b.tabIndex = b === button ? 0 : -1
    }
    const changed = currentWindow !== button.dataset.window
    currentWindow = button.dataset.window
    return changed
  }
  const KEYS = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }
  for (const [i, button] of buttons.entries()) {
    button.addEventListener('click', () => {
      choose(button)
      load()
    })
    button.addEventListener('keydown', (event) => {
      let next
      if (event.key in KEYS) next = buttons[(i + KEYS[event.key] + buttons.length) % buttons.length]
      else if (event.key === 'Home') next = buttons[0]
      else if (event.key === 'End') next = buttons[buttons.length - 1]
      else return
      event.preventDefault()
      if (choose(next)) load()
      next.focus()
    })
  }
}

document.addEventListener('DOMContentLoaded', () => {
  windowPicker()
  // The charts are drawn at their pixel size: draw them again when their width changes.
  let width = $('chart-requests').clientWidth
  new ResizeObserver(() => {
    if ($('chart-requests').clientWidth === width) return
    width = $('chart-requests').clientWidth
    if (shown) drawCharts(shown)
  }).observe($('chart-requests'))
  $('live').addEventListener('change', schedule)
  load()
  schedule()
})
