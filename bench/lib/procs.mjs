// Every process the bench starts goes through here, so all of them are ended on any exit:
// normal end, a thrown error, Ctrl-C, or the bench's own time limit.
import { spawn } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import net from 'node:net'

const children = new Set()

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL') } catch {}
    }
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
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
  await gone
  clearTimeout(timer)
  children.delete(child)
}

export function stopAll() {
  killAll()
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Waits for the first message a Node child sends over IPC (its ports), bounded in time. */
export function firstMessage(child, timeoutMs = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child did not report ready in time')), timeoutMs)
    child.once('message', (msg) => { clearTimeout(timer); resolve(msg) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited early (code ${code})`)) })
  })
}
