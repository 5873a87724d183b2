/**
 * @module
 * Scripted answers of the test origin (`./origin-server.ts`): a test says what its requests get
 * (`PUT /_control/script?tag=T`, a list of answers given in order, the last one repeating), and
 * the origin answers exactly that instead of its usual behaviour. Per tag, so tests never meet.
 */
import type http from 'node:http'

/** One answer: status (default 200), headers, and a body (a string as is, anything else as JSON). */
export type ScriptedAnswer = { status?: number; headers?: Record<string, string>; body?: unknown }

export type ScriptedAnswers = {
  /** Replaces the tag's script; an empty list removes it. */
  set(tag: string, answers: ScriptedAnswer[]): void
  /** Answers `res` by the tag's script; false when the tag has none. */
  answer(tag: string, res: http.ServerResponse, extraHeaders: http.OutgoingHttpHeaders): boolean
  delete(tag: string): void
}

export function scriptedAnswers(): ScriptedAnswers {
  const scripts = new Map<string, { answers: ScriptedAnswer[]; next: number }>()
  return {
    set(tag, answers) {
      if (answers.length === 0) scripts.delete(tag)
      else scripts.set(tag, { answers, next: 0 })
    },
    answer(tag, res, extraHeaders) {
      const script = scripts.get(tag)
      if (!script) return false
      const answer = script.answers[Math.min(script.next++, script.answers.length - 1)]!
      const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body)
      const type = typeof answer.body === 'string' || answer.body === undefined ? 'text/plain' : 'application/json'
      res.writeHead(answer.status ?? 200, { 'content-type': type, ...extraHeaders, ...answer.headers })
      res.end(text)
      return true
    },
    delete: (tag) => scripts.delete(tag),
  }
}
