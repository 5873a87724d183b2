// `npm run check:config` and `npm run deploy` against wrangler environments, as a user runs them:
// the real scripts on a throwaway project (wrangler.toml, entries, configs) in a temp directory.
// Nothing is deployed: every case here is refused before wrangler is started.
//
// Run: npm run test:scripts (or node --test test/scripts/)
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { PACKAGE } from '../../scripts/lib.mjs'
import { durableObjectsToml, entry } from './projects.mjs'

const script = (name) => fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url))
let dir

const WRANGLER_TOML = `
name = "t"
main = "src/index.ts"
compatibility_date = "2026-04-20"
[vars]
API_ORIGIN = "http://127.0.0.1:9"

[env.staging]
main = "src/entries/staging.ts"
vars = { OTHER = "x" }

[env.production]
main = "src/entries/production.ts"
vars = { API_ORIGIN = "https://api.example.com" }
services = [{ binding = "BILLING", service = "billing" }]

# Every Durable Object this version needs, at the top level and in staging (production lacks them).
${durableObjectsToml('staging')}`
const upstreamConfig = (upstreams, policies = []) =>
  JSON.stringify({ upstreams, policies, routes: [{ id: 'api', match: { path: '/api/*' }, action: { type: 'proxy', upstream: 'api' } }] })
const limit = { type: 'rate-limit', by: ['ip'], limits: [{ name: 'a', limit: 1, window: 1 }] }

function run(name, args, extraEnv = {}) {
  const { status, stdout, stderr } = spawnSync(process.execPath, [script(name), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', CLOUDFLARE_ENV: '', ...extraEnv },
  })
  return { status, out: stdout + stderr }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeway-check-'))
  mkdirSync(join(dir, 'src/entries'), { recursive: true })
  mkdirSync(join(dir, 'config'))
  writeFileSync(join(dir, 'wrangler.toml'), WRANGLER_TOML)
  writeFileSync(join(dir, 'src/index.ts'), entry('../config/demo.json'))
  for (const env of ['staging', 'production']) writeFileSync(join(dir, `src/entries/${env}.ts`), entry(`../../config/${env}.json`))
  // Valid at the top level; staging lacks API_ORIGIN; production lacks the DO binding the rate limit needs.
  writeFileSync(join(dir, 'config/demo.json'), upstreamConfig({ api: { url: '${API_ORIGIN}' } }, [limit]))
  writeFileSync(join(dir, 'config/staging.json'), upstreamConfig({ api: { url: '${API_ORIGIN}' } }))
  writeFileSync(join(dir, 'config/production.json'), upstreamConfig({ api: { url: '${API_ORIGIN}' }, billing: { service: 'BILLING' } }, [limit]))
  writeFileSync(join(dir, 'config/literal.json'), upstreamConfig({ api: { url: 'https://user:pw@api.example.com' } }))
})
after(() => rmSync(dir, { recursive: true, force: true }))

describe('check:config', () => {
  it('with no arguments checks every environment with the config its entry bundles', () => {
    const { status, out } = run('check-config.mjs', [])
    assert.equal(status, 1)
    assert.match(out, /config\/demo\.json \(the top level\): ok \(1 routes\)/)
    assert.match(
      out,
      /config\/staging\.json \(\[env\.staging\]\): 1 problem\(s\)\n {2}- upstreams\.api\.url: Worker variable "API_ORIGIN" is not set in \[env\.staging\] vars \(nor listed as a secret in \.dev\.vars\.example\)/,
    )
    assert.match(out, /- policies\[0\]\.binding: no Durable Object binding "RATE_LIMITER" declared in \[env\.production\] of wrangler\.toml/)
    // The environments whose Durable Objects are all there say nothing about them (test/scripts/durable-objects-check.test.mjs).
    assert.match(out, /wrangler\.toml \[env\.production\]: no Durable Object binding for RateLimiter, /)
    assert.doesNotMatch(out, /wrangler\.toml (the top level|\[env\.staging\]):/)
  })

  it('a secret name listed in .dev.vars.example is accepted for ${VAR}', () => {
    writeFileSync(join(dir, '.dev.vars.example'), 'API_ORIGIN=\n')
    try {
      const { status, out } = run('check-config.mjs', ['--env', 'staging'])
      assert.equal(status, 0, out)
      assert.match(out, /config\/staging\.json \(\[env\.staging\]\): ok/)
    } finally {
      rmSync(join(dir, '.dev.vars.example'))
    }
  })

  it('a file alone: literal upstream URLs are checked', () => {
    const { status, out } = run('check-config.mjs', ['config/literal.json'])
    assert.equal(status, 1)
    assert.match(out, /config\/literal\.json: 1 problem\(s\)\n {2}- upstreams\.api\.url: must not hold credentials \(use a policy that reads a secret\)/)
  })

  it('structural problems end with a line saying the cross-field checks are still to run', () => {
    writeFileSync(join(dir, 'config/structural.json'), JSON.stringify({ rotues: [] }))
    const { status, out } = run('check-config.mjs', ['config/structural.json'])
    assert.equal(status, 1)
    assert.match(out, /config\/structural\.json: 2 problem\(s\)\n {2}- routes: required\n {2}- rotues: unknown key.*\n {2}\(cross-field checks — references, budgets, deadlines — run once these are fixed\)\n/)
    // A config whose structure is fine gets no such line.
    assert.doesNotMatch(run('check-config.mjs', ['config/literal.json']).out, /cross-field checks/)
  })

  it('a valid config with an aggregation whose calls may queue past the deadline: ok, with a notice naming the call', () => {
    const calls = Array.from({ length: 8 }, (_, i) => ({ name: `c${i}`, upstream: 'api', path: `/${i}`, timeout: 1000 }))
    writeFileSync(join(dir, 'config/waves.json'), JSON.stringify({ upstreams: { api: { url: 'http://127.0.0.1:9' } }, routes: [{ id: 'agg', match: { path: '/agg' }, deadline: 1500, action: { type: 'aggregate', calls } }] }))
    const { status, out } = run('check-config.mjs', ['config/waves.json'])
    assert.equal(status, 0, out)
    assert.match(out, /config\/waves\.json: ok \(1 routes\)\n {2}notice: routes\[0\]\.deadline: 8 calls run at most 6 at once \(maxInFlight 6\): in the worst case call "c6" waits in the queue until 1000 ms/)
  })

  it('prints a notice for an aggregate route behind an auth policy with no forwardHeaders; the config passes', () => {
    const route = (action) => ({ id: 'agg', match: { path: '/agg' }, policies: [{ type: 'api-key', kv: 'API_KEYS' }], action: { type: 'aggregate', calls: [{ name: 'a', upstream: 'api', path: '/a' }], ...action } })
    writeFileSync(join(dir, 'config/agg.json'), JSON.stringify({ upstreams: { api: { url: 'http://127.0.0.1:9' } }, routes: [route({})] }))
    const { status, out } = run('check-config.mjs', ['config/agg.json'])
    assert.equal(status, 0)
    assert.match(out, /config\/agg\.json: ok \(1 routes\)\n {2}notice: routes\[0\]\.action\.forwardHeaders: the route has an auth policy \(api-key\) and its calls get none of the client's headers/)
    writeFileSync(join(dir, 'config/agg.json'), JSON.stringify({ upstreams: { api: { url: 'http://127.0.0.1:9' } }, routes: [route({ forwardHeaders: [] })] }))
    assert.doesNotMatch(run('check-config.mjs', ['config/agg.json']).out, /notice/)
  })
})

describe('check:config and the version of $schema', () => {
  it('notices a $schema file written by another Edgeway version (edgeway schema), and says how to renew it', () => {
    writeFileSync(join(dir, 'config/old.schema.json'), JSON.stringify({ 'x-edgeway-version': '0.0.1' }))
    writeFileSync(join(dir, 'config/versioned.json'), JSON.stringify({ $schema: './old.schema.json', ...JSON.parse(upstreamConfig({ api: { url: 'http://127.0.0.1:9' } })) }))
    const { status, out } = run('check-config.mjs', ['config/versioned.json'])
    assert.equal(status, 0, out)
    assert.match(out, /notice: \$schema: config\/old\.schema\.json was written by edgeway 0\.0\.1, this is \d+\.\d+\.\d+: run `npx edgeway schema`/)
    writeFileSync(join(dir, 'config/old.schema.json'), JSON.stringify({ 'x-edgeway-version': PACKAGE.version }))
    assert.doesNotMatch(run('check-config.mjs', ['config/versioned.json']).out, /notice/)
  })
})

describe('deploy', () => {
  it('refuses an environment whose config would fail at runtime, before wrangler runs', () => {
    const { status, out } = run('deploy.mjs', ['--env', 'staging', '--dry-run'])
    assert.equal(status, 1)
    assert.match(out, /Worker variable "API_ORIGIN" is not set in \[env\.staging\] vars/)
    assert.match(out, /deploy refused/)
    assert.doesNotMatch(out, /production/)
  })

  it('reads the environment from --env=, -e and CLOUDFLARE_ENV as wrangler does', () => {
    assert.match(run('deploy.mjs', ['--env=production']).out, /\[env\.production\]\): 1 problem/)
    assert.match(run('deploy.mjs', ['-e', 'production']).out, /\[env\.production\]\): 1 problem/)
    assert.match(run('deploy.mjs', [], { CLOUDFLARE_ENV: 'production' }).out, /\[env\.production\]\): 1 problem/)
  })
})
