// CPU time a process (and its direct children, e.g. nginx's worker) has used, from /proc. On a
// shared machine, CPU per request is steadier than req/s: other load changes how long we wait for
// a core, not how much work a request takes. Linux only; elsewhere it reads NaN.
import { readdirSync, readFileSync } from 'node:fs'

const TICK_MS = 10 // USER_HZ is 100 on Linux

function ticksOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime + stime (fields 14 and 15 of the line)
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Milliseconds of CPU used so far by `pid` and its children. */
export function cpuMs(pid) {
  if (!pid) return NaN
  try {
    return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + ticksOf(p), 0) * TICK_MS
  } catch {
    return NaN
  }
}

/**
 * Milliseconds of CPU used so far by every thread of `pid`, from the scheduler's nanosecond
 * counters (`/proc/<pid>/task/<tid>/schedstat`): precise enough for a cold start (~10-40 ms), where
 * `cpuMs`'s 10 ms ticks are not. NaN where /proc has no such file.
 */
export function threadCpuMs(pid) {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`)
    return tasks.reduce((sum, tid) => sum + Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]), 0) / 1e6
  } catch {
    return NaN
  }
}
