/**
 * A strict parser of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), written for the tests: it throws
 * on anything a Prometheus scrape would reject or that the format forbids, naming the line.
 *
 * Checked: metric and label names; label values' escapes (only `\\`, `\"`, `\n`); values as Go
 * floats; at most one HELP and one TYPE per family, TYPE before its samples; a family's samples
 * together; no series twice; the text ends with a newline; counters never negative; each
 * histogram series has `_bucket`s in increasing `le` with non-decreasing counts, a `+Inf` bucket
 * equal to its `_count`, and a `_sum`. (npm has `parse-prometheus-text-format`, lenient and
 * unmaintained since 2019; nothing better is installed, so this one.)
 */

export type Sample = { name: string; labels: Record<string, string>; value: number }
export type MetricFamily = { name: string; type: string; help?: string; samples: Sample[] }

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const FLOAT = /^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Inf|NaN)$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(text: string, where: string): number {
  if (!FLOAT.test(text)) throw new Error(`${where}: "${text}" is not a float`)
  return text.endsWith('Inf') ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text)
}

/** `{a="x",b="y"}` from `text` at `i` (just past `{`); returns the labels and the index past `}`. */
function parseLabels(text: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {}
  for (;;) {
    if (text[i] === '}') return [labels, i + 1]
    const eq = text.indexOf('=', i)
    const name = text.slice(i, eq)
    if (eq < 0 || !LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${where}: bad label name "${name}"`)
    if (Object.hasOwn(labels, name)) throw new Error(`${where}: label ${name} twice`)
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name} has no quoted value`)
    let value = ''
    let j = eq + 2
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] !== '\\') {
        if (text[j] === '\n') throw new Error(`${where}: raw newline in a label value`)
        value += text[j]
        continue
      }
      const next = text[++j]
      if (next === '\\' || next === '"') value += next
      else if (next === 'n') value += '\n'
      else throw new Error(`${where}: bad escape \\${next} in label ${name}`)
    }
    if (text[j] !== '"') throw new Error(`${where}: unterminated label value`)
    labels[name] = value
    i = j + 1
    if (text[i] === ',') i++
    else if (text[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`)
  }
}

/** The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` belong to histogram `x`. */
function familyOf(name: string, families: Map<string, MetricFamily>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length)
    if (name.endsWith(suffix) && families.get(base)?.type === 'histogram') return base
  }
  return name
}

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (!text.endsWith('\n')) throw new Error('the text must end with a newline')
  const families = new Map<string, MetricFamily>()
  const seenSeries = new Set<string>()
  const closed = new Set<string>()
  const typed = new Set<string>()
  let current: string | undefined
  const family = (name: string) => {
    let f = families.get(name)
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }))
    return f
  }
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1}`
    if (line.trim() === '') return
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line)
    if (meta) {
      const [, kind, name, rest = ''] = meta as unknown as [string, string, string, string | undefined]
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`)
      const f = family(name)
      if (f.samples.length > 0) throw new Error(`${where}: ${kind} for ${name} after its samples`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`)
        if (typed.has(name)) throw new Error(`${where}: second TYPE for ${name}`)
        typed.add(name)
        f.type = rest
      } else {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`)
        if (/\\[^\\n]/.test(rest)) throw new Error(`${where}: bad escape in HELP`)
        f.help = rest
      }
      return
    }
    if (line.startsWith('#')) return
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)
    if (!m) throw new Error(`${where}: no metric name`)
    const name = m[1]!
    let i = name.length
    let labels: Record<string, string> = {}
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1, where)
    const parts = line.slice(i).trim().split(/\s+/)
    if (line[i] !== ' ' || parts.length < 1 || parts.length > 2) throw new Error(`${where}: expected " value [timestamp]"`)
    const value = parseValue(parts[0]!, where)
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp`)
    const base = familyOf(name, families)
    if (closed.has(base)) throw new Error(`${where}: samples of ${base} are not together`)
    if (current !== undefined && current !== base) closed.add(current)
    current = base
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`
    if (seenSeries.has(series)) throw new Error(`${where}: series ${series} twice`)
    seenSeries.add(series)
    const f = family(base)
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${name} is ${value}`)
    f.samples.push({ name, labels, value })
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram(f: MetricFamily): void {
  const bySeries = new Map<string, Sample[]>()
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    bySeries.set(key, [...(bySeries.get(key) ?? []), s])
  }
  for (const [key, samples] of bySeries) {
    const buckets = samples.filter((s) => s.name === `${f.name}_bucket`)
    const count = samples.find((s) => s.name === `${f.name}_count`)
    const sum = samples.find((s) => s.name === `${f.name}_sum`)
    if (!count || !sum) throw new Error(`${f.name}${key}: needs _sum and _count`)
    let lastLe = -Infinity
    let lastCount = 0
    for (const b of buckets) {
      if (b.labels.le === undefined) throw new Error(`${f.name}${key}: a bucket without le`)
      const le = parseValue(b.labels.le, `${f.name}${key}`)
      if (!(le > lastLe)) throw new Error(`${f.name}${key}: le ${b.labels.le} not increasing`)
      if (b.value < lastCount) throw new Error(`${f.name}${key}: bucket le=${b.labels.le} below the one before`)
      lastLe = le
      lastCount = b.value
    }
    if (lastLe !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`)
    if (lastCount !== count.value) throw new Error(`${f.name}${key}: +Inf bucket ${lastCount} is not _count ${count.value}`)
  }
}

/** The value of the sample `name` with exactly `labels`, or undefined. */
export function sampleValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string>): number | undefined {
  for (const f of families.values()) {
    const hit = f.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()))
    if (hit) return hit.value
  }
  return undefined
}
