// `npm run import:openapi` and `npm run check:config` as a user runs them: real child processes on a
// small OpenAPI document. (The conversion itself is tested in workerd by test/openapi/import.test.ts;
// these commands run in Node, which the workerd test pool can't start.)
//
// Run: npm run test:scripts (or node --test test/scripts/)
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, describe, it } from 'node:test'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SCHEMA = join(ROOT, 'edgeway.schema.json')
const tmp = mkdtempSync(join(tmpdir(), 'edgeway-import-'))
const cleanup = [tmp]
after(() => {
  for (const path of cleanup) rmSync(path, { recursive: true, force: true })
})

const API = `openapi: 3.1.0
info: { title: Notes, version: 2.1.0 }
servers: [{ url: "https://notes.example.com/api" }]
paths:
  /notes:
    post:
      operationId: createNote
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object, required: [text], properties: { text: { type: string } } }
      responses: { "201": { description: created } }
  /notes/{id}:
    patch:
      operationId: patchNote
      requestBody:
        content:
          application/json:
            schema: { type: object, properties: { text: { type: string } } }
      responses: { "200": { description: patched } }
    put:
      operationId: putNote
      requestBody:
        required: false
        content:
          application/json:
            schema: { type: object }
      responses: { "200": { description: replaced } }
`
const apiFile = join(tmp, 'notes.yaml')
writeFileSync(apiFile, API)

/** Runs `npm run --silent <script> -- ...args` from the repo root; never rejects (bounded by a timeout). */
function npmRun(script, args) {
  return new Promise((done) => {
    execFile('npm', ['run', '--silent', script, '--', ...args], { cwd: ROOT, timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

/** The written config, checked by `check:config`, with its `$schema` resolved as an editor would. */
async function importTo(out) {
  const run = await npmRun('import:openapi', [apiFile, '--out', out])
  assert.equal(run.code, 0, run.stderr)
  const config = JSON.parse(readFileSync(out, 'utf8'))
  const check = await npmRun('check:config', [out])
  assert.equal(check.code, 0, check.stderr)
  assert.match(check.stdout, /: ok \(3 routes\)/)
  return { config, stderr: run.stderr, schemaAt: resolve(dirname(out), config.$schema) }
}

describe('npm run import:openapi', () => {
  it('--out config/...: the config passes check:config and its $schema finds edgeway.schema.json', async () => {
    mkdirSync(join(ROOT, 'config'), { recursive: true })
    const out = join(ROOT, 'config', `import-test-${randomUUID()}.json`)
    cleanup.push(out)
    const { config, schemaAt } = await importTo(out)
    assert.equal(config.$schema, '../edgeway.schema.json')
    assert.equal(schemaAt, SCHEMA)
    assert.deepEqual(config.routes.map((r) => [r.id, r.match]), [
      ['createNote', { path: '/notes', methods: ['POST'] }],
      ['putNote', { path: '/notes/:id', methods: ['PUT'] }],
      ['patchNote', { path: '/notes/:id', methods: ['PATCH'] }],
    ])
    assert.deepEqual(config.upstreams, { notes: { url: 'https://notes.example.com/api' } })
  })

  it('--out anywhere else: $schema is relative to that file', async () => {
    const out = join(tmp, 'a', 'b', 'gateway.json')
    mkdirSync(dirname(out), { recursive: true })
    const { config, schemaAt } = await importTo(out)
    assert.ok(config.$schema.startsWith('../'), config.$schema)
    assert.equal(schemaAt, SCHEMA)
    assert.ok(existsSync(schemaAt))
  })

  it('printed to stdout (run from the repo root): $schema is ./edgeway.schema.json', async () => {
    const run = await npmRun('import:openapi', [apiFile])
    assert.equal(run.code, 0, run.stderr)
    assert.equal(JSON.parse(run.stdout).$schema, './edgeway.schema.json')
  })

  it('an optional request body (required false or absent) is noted; a required one is not', async () => {
    const run = await npmRun('import:openapi', [apiFile])
    assert.equal(run.code, 0, run.stderr)
    const notes = run.stderr.split('\n').filter((line) => line.includes('request body is optional'))
    assert.deepEqual(notes, [
      "note: putNote: the request body is optional in the document, but the gateway's validate policy requires one",
      "note: patchNote: the request body is optional in the document, but the gateway's validate policy requires one",
    ])
  })

  it('a document that is not OpenAPI 3 fails with exit 1 and says why', async () => {
    const bad = join(tmp, 'swagger.yaml')
    writeFileSync(bad, 'swagger: "2.0"\n')
    const run = await npmRun('import:openapi', [bad])
    assert.equal(run.code, 1)
    assert.equal(run.stderr.trim(), `${bad}: not an OpenAPI 3.0 or 3.1 document (no "openapi": "3.x.y")`)
  })
})
