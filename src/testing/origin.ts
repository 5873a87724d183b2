/**
 * @module
 * The test kit's origin, from inside workerd (`edgeway/testing`): the local origin the kit's
 * global setup starts (`node/origin-server.ts`). `testOrigin()` gives a test a base URL of its
 * own on it: put it in an upstream, then read what the origin received, or script what it
 * answers. Without a script it echoes each request as JSON (`Echo`).
 *
 * @example
 * const origin = testOrigin()
 * await origin.answer({ status: 503 }, { body: { ok: true } })   // the first request fails, then ok
 * const gateway = testGateway({ upstreams: { api: { url: origin.url } }, routes: [...] })
 * expect(await origin.requests()).toHaveLength(2)
 */
import { serverUrl } from './servers'

/** Where the local origin listens (the kit's global setup provides it). */
export const ORIGIN_URL = serverUrl('originUrl')

/** What the origin answers by default: what it received. */
export type Echo = {
  method: string
  /** The request target as received (with the test's `/s/<id>` prefix). */
  url: string
  /** The path, without the test's prefix. */
  path: string
  query: Record<string, string>
  headers: Record<string, string>
  body: string
}

/** A request the origin received. */
export type OriginRequest = { method: string; url: string; headers: Record<string, string>; at: number }

/** An answer to script: status (default 200), headers, and a body (a string as is, anything else as JSON). */
export type ScriptedAnswer = { status?: number; headers?: Record<string, string>; body?: unknown }

export type TestOrigin = {
  /** The base URL to proxy to (requests below it reach the origin without the prefix). */
  url: string
  /** Its tag on the origin: requests sent with `x-test-tag: <tag>` count as this origin's too. */
  tag: string
  /** The next requests get these answers in order, the last one repeating; none: echo again. */
  answer(...answers: ScriptedAnswer[]): Promise<void>
  /** The requests it received so far, oldest first. */
  requests(): Promise<OriginRequest[]>
}

async function control(path: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(`${ORIGIN_URL}/_control/${path}`, init)
  if (!res.ok) throw new Error(`origin control ${path}: ${res.status}`)
  return res
}

/** A fresh origin of the test's own: its URL, log and script are no other test's. */
export function testOrigin(): TestOrigin {
  const tag = crypto.randomUUID()
  return {
    url: `${ORIGIN_URL}/s/${tag}`,
    tag,
    async answer(...answers) {
      await control(`script?tag=${tag}`, { method: 'PUT', body: JSON.stringify(answers) })
    },
    async requests() {
      return (await control(`log?tag=${tag}`)).json()
    },
  }
}
