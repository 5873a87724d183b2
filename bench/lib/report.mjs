// Turns a bench run into the markdown table, the JSON and the SVG chart of ratios.
const f = (n, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–')
const ms = (n) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : '–')
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`

/** The issue's targets for one row, each { what, value, target, pass }. */
export function evaluateTargets(row) {
  const out = []
  const t = row.targets ?? {}
  const c32 = row.levels?.[32]
  const c1 = row.levels?.[1]
  // `rounds`: the measure's lowest and highest per-round value (the verdict is the median's).
  const at = (lv, measure, what, target, pass) => out.push({ what: `${row.name}: ${what}`, value: lv[measure], rounds: lv.rounds?.[measure], target, pass: pass(lv[measure]) })
  if (t.rpsRatio32 !== undefined && c32) at(c32, 'ratio', 'req/s ratio at 32 connections', `>= ${t.rpsRatio32}`, (v) => v >= t.rpsRatio32)
  if (t.p50DeltaMs1 !== undefined && c1) at(c1, 'p50DeltaMs', 'p50 added at 1 connection (ms)', `<= ${t.p50DeltaMs1}`, (v) => v <= t.p50DeltaMs1)
  if (t.latencyRatio !== undefined && c1) at(c1, 'latencyRatio', 'p50 ratio at 1 connection', `<= ${t.latencyRatio}`, (v) => v <= t.latencyRatio)
  if (t.cpuRatio32 !== undefined && c32) at(c32, 'cpuRatio', 'CPU per request ratio at 32 connections', `<= ${t.cpuRatio32}`, (v) => v <= t.cpuRatio32)
  if (t.vsPeer !== undefined && c32) at(c32, 'ratio', 'req/s ratio at 32 connections', `>= ${t.vsPeer}`, (v) => v >= t.vsPeer)
  return out
}

export function toMarkdown(run) {
  const { meta } = run
  const lines = []
  lines.push(`Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores; Node ${meta.node}; workerd ${meta.workerd}; autocannon ${meta.autocannon}.`)
  lines.push(`Load average (1/5/15 min) at start ${meta.loadavg.start.map((x) => x.toFixed(2)).join(' / ')}, at end ${meta.loadavg.end.map((x) => x.toFixed(2)).join(' / ')} (the cores are shared with other work).`)
  lines.push(`Settings: ${meta.settings.rounds} rounds of ${meta.settings.describe}, A and B alternated${meta.settings.warmup ? ', after a warm-up' : ''}; medians over rounds; p99 from raw per-request times pooled over rounds; CPU µs/req is the target process's CPU time (from /proc) per answered request, steadier than req/s on a shared machine.`)
  lines.push('')
  lines.push('| scenario (A) | baseline (B) | conns | A req/s | B req/s | ratio A/B | A p50 ms | B p50 ms | A p99 ms | B p99 ms | CPU µs/req A / B |')
  lines.push('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|')
  for (const row of run.rows) {
    if (row.status !== 'ok') {
      lines.push(`| ${row.title} | ${row.b ?? ''} | | ${row.status}: ${row.reason} | | | | | | | |`)
      continue
    }
    for (const c of Object.keys(row.levels).sort((x, y) => y - x)) {
      const l = row.levels[c]
      const ratio = row.metric === 'latency' ? `${l.latencyRatio.toFixed(3)} (p50)` : l.ratio.toFixed(3)
      lines.push(`| ${row.title} | ${row.b} | ${c} | ${f(l.a.rps)} | ${f(l.b.rps)} | ${ratio} | ${ms(l.a.p50)} | ${ms(l.b.p50)} | ${ms(l.a.p99)} | ${ms(l.b.p99)} | ${f(l.a.cpuUs)} / ${f(l.b.cpuUs)} |`)
    }
  }
  lines.push('')
  lines.push(`Bundle (the deployed worker, \`wrangler deploy --dry-run\`): ${kib(run.bundle.rawBytes)} raw, ${kib(run.bundle.gzipBytes)} gzip (budget ${kib(run.bundle.budgetGzipBytes)} gzip).`)
  lines.push(`Startup (workerd process start to first answered request, median of ${run.startup.gateway.length}): gateway ${ms(run.startup.gatewayMedianMs)} ms (its config validated at startup instead: ${ms(run.startup.unpreparedMedianMs)} ms), bare worker ${ms(run.startup.bareMedianMs)} ms, lean worker ${ms(run.startup.leanMedianMs)} ms (gateway/bare ${run.startup.ratio?.toFixed(2)}x)${run.startup.neverRunMedianMs ? `; the floor, the gateway's script compiled but never run (workerd compiles every module at startup): ${ms(run.startup.neverRunMedianMs)} ms, ${run.startup.floorRatio?.toFixed(2)}x the bare worker` : ''}; CPU to the first answer (ms, median): ${Object.entries(run.startup.cpuMedianMs ?? {}).map(([k, v]) => `${k} ${ms(v)}`).join(', ')}.`)
  const targets = [...run.rows.flatMap((r) => r.targetResults ?? []), run.startup.target, run.bundle.target].filter(Boolean)
  if (targets.length) {
    lines.push('')
    lines.push('| target | value (median of rounds) | rounds: lowest - highest | wanted | met |')
    lines.push('|---|--:|--:|--:|:-:|')
    // A floor row is the same target measured on the work written by hand: where the platform stands.
    const range = (r) => (r ? `${r[0].toFixed(3)} - ${r[1].toFixed(3)}` : '')
    // One round (the smoke run, or `--rounds=1`) checks that a scenario runs: its ratio is no verdict.
    const judged = meta.settings.rounds > 1
    const verdict = (t) => (!judged && t.rounds ? '1 round: not judged' : t.floor ? `by hand: ${t.pass ? 'yes' : 'no'}` : t.pass ? 'yes' : '**no**')
    for (const t of targets) lines.push(`| ${t.floor ? `floor: ${t.what}` : t.what} | ${typeof t.value === 'number' ? t.value.toFixed(3) : t.value} | ${range(t.rounds)} | ${t.target} | ${verdict(t)} |`)
  }
  return lines.join('\n') + '\n'
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * Horizontal bars: one group per row, a bar per connection level. The value is "relative speed,
 * higher is better": A/B req/s, or for latency rows B p50 / A p50. A line marks 1.0.
 */
export function toSvg(run) {
  const rows = run.rows.filter((r) => r.status === 'ok')
  const levels = [32, 1]
  const colors = { 32: '#3b6ea8', 1: '#e08a2c' }
  const left = 200, width = 420, barH = 14, gap = 4, groupGap = 14, top = 46
  const values = rows.flatMap((r) => levels.map((c) => speed(r, c)).filter(Number.isFinite))
  // The axis stops at 2: the references (origin, nginx) run several times faster than any worker
  // and would flatten the bars that matter; a clipped bar ends in an arrow and shows its value.
  const max = Math.min(2, Math.max(1.2, ...values) * 1.05)
  const x = (v) => left + (Math.min(v, max) / max) * width
  const height = top + rows.length * (levels.length * (barH + gap) + groupGap) + 30
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 80}" height="${height}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`)
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">Edgeway bench: relative speed vs baseline (higher is better)</text>`)
  out.push(`<text x="10" y="34" fill="#555">req/s A/B; for latency rows p50 B/A. ${esc(run.meta.machine.cpu)}, ${run.meta.machine.cores} cores, ${esc(run.meta.date.slice(0, 10))}</text>`)
  let y = top
  for (const r of rows) {
    const label = r.name.replace(/ vs peer$/, '')
    out.push(`<text x="${left - 8}" y="${y + barH + 2}" text-anchor="end">${esc(label)}</text>`)
    out.push(`<text x="${left - 8}" y="${y + barH + 15}" text-anchor="end" fill="#777" font-size="10">vs ${esc(r.b)}</text>`)
    for (const c of levels) {
      const v = speed(r, c)
      if (Number.isFinite(v)) {
        out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left).toFixed(1)}" height="${barH}" fill="${colors[c]}"/>`)
        const clipped = v > max
        if (clipped) out.push(`<path d="M${x(v).toFixed(1)} ${y - 2} l8 ${barH / 2 + 2} l-8 ${barH / 2 + 2} z" fill="${colors[c]}"/>`)
        out.push(`<text x="${(x(v) + (clipped ? 12 : 4)).toFixed(1)}" y="${y + barH - 3}">${v.toFixed(2)}</text>`)
      }
      y += barH + gap
    }
    y += groupGap
  }
  out.push(`<line x1="${x(1).toFixed(1)}" y1="${top - 4}" x2="${x(1).toFixed(1)}" y2="${y - groupGap + 2}" stroke="#000" stroke-dasharray="4 3"/>`)
  out.push(`<text x="${x(1).toFixed(1)}" y="${y + 10}" text-anchor="middle">1.0</text>`)
  levels.forEach((c, i) => {
    out.push(`<rect x="${10 + i * 130}" y="${y + 2}" width="12" height="12" fill="${colors[c]}"/><text x="${26 + i * 130}" y="${y + 12}">${c} connection${c > 1 ? 's' : ''}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function speed(row, c) {
  const l = row.levels?.[c]
  if (!l) return NaN
  return row.metric === 'latency' ? 1 / l.latencyRatio : l.ratio
}
