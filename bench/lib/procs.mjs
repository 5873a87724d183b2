// Every process the bench starts goes through here, so all of them are ended on any exit:
// normal end, a thrown error, Ctrl-C, or the bench's own time limit.
import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { freePort } from '../../scripts/lib.mjs'

export { freePort }

const children = new Set()

/** The pids a process has started (nginx's worker, say), so they go too. */
function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function killTree(pid, signal) {
  for (const sub of childPids(pid)) killTree(sub, signal)
  try { process.kill(pid, signal) } catch {}
}

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) killTree(child.pid, 'SIGKILL')
  }
  children.clear()
}

process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}

/**
 * Starts a process with its output in `logFile` (never a pipe: a full pipe would stall it).
 * With `ipc`, a Node child gets a channel and is expected to exit when it closes, so it dies with us
 * even if we are killed hard.
 */
export function startProcess(command, args, { logFile, ipc = false, env } = {}) {
  const fd = logFile ? openSync(logFile, 'a') : 'ignore'
  const stdio = ['ignore', fd, fd]
  if (ipc) stdio.push('ipc')
  const child = spawn(command, args, { stdio, env: env ?? process.env })
  if (typeof fd === 'number') closeSync(fd)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Ends one process we started and waits for it to be gone. */
export async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise((resolve) => child.once('exit', resolve))
  const subs = childPids(child.pid)
  child.kill('SIGTERM')
  const timer = setTimeout(() => killTree(child.pid, 'SIGKILL'), 2000)
  await gone
  clearTimeout(timer)
  for (const pid of subs) killTree(pid, 'SIGKILL') // gone already, unless orphaned
  children.delete(child)
}

export function stopAll() {
  killAll()
}


/** Waits for the first message a Node child sends over IPC (its ports), bounded in time. */
export function firstMessage(child, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child did not report ready in time')), timeoutMs)
    child.once('message', (msg) => { clearTimeout(timer); resolve(msg) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited early (code ${code})`)) })
  })
}
