// What a new user does with Edgeway as a package (issue 18's done-when): `npm pack` a clean
// clone of this repository, `edgeway init` a project from the tarball in a temp folder, install the tarball
// there, then in the project: `npm run check`, `npm run schema`, `npm test` (a built-in policy and
// the example custom policy, with the test kit), `wrangler deploy --dry-run`, and `npm run dev`
// answering a 200, a 404 problem+json and the custom policy's problem+json.
//
// Offline and fast: "installing" is what npm would leave on disk, made by hand — the tarball
// unpacked into node_modules/edgeway, every other package linked from this repository's
// node_modules (the versions of package-lock.json, which the generated project pins too).
// Only 127.0.0.1. About 2 minutes on 2 busy cores (each step is bounded at 10 minutes for a machine far busier).
//
// Run: npm run test:scripts (or node --test test/scripts/package.test.mjs)
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort, OFFLINE_ENV } from '../../scripts/lib.mjs'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const VERSION = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version
const ENV = { ...process.env, ...OFFLINE_ENV, NO_COLOR: '1', CLOUDFLARE_ENV: '' }
let work
let unpacked
let project

/** Runs a command to its end (bounded); `{ status, out }`. */
function run(command, args, cwd, timeout = 600_000) {
  const { status, stdout, stderr, error } = spawnSync(command, args, { cwd, env: ENV, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 })
  if (error) throw error
  return { status, out: stdout + stderr }
}

/** node_modules as `npm install <tarball>` leaves it, without the network: the package copied, the rest linked. */
function install(dir) {
  const modules = join(dir, 'node_modules')
  const bin = join(modules, '.bin')
  mkdirSync(bin, { recursive: true })
  const repoModules = realpathSync(join(REPO, 'node_modules'))
  for (const name of readdirSync(repoModules)) {
    if (name === '.bin' || name.startsWith('.') || name === 'edgeway') continue
    symlinkSync(join(repoModules, name), join(modules, name))
  }
  for (const name of readdirSync(join(repoModules, '.bin'))) symlinkSync(resolve(join(repoModules, '.bin'), readlinkSync(join(repoModules, '.bin', name))), join(bin, name))
  cpSync(unpacked, join(modules, 'edgeway'), { recursive: true })
  symlinkSync('../edgeway/bin/edgeway.mjs', join(bin, 'edgeway'))
}

/**
 * A clean clone of this repository: its tracked files as they are now (uncommitted edits
 * included), no dist/ or other untracked files, the dependencies linked. Outside git: the repository itself.
 */
function cleanClone() {
  const listed = spawnSync('git', ['ls-files', '-z'], { cwd: REPO, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
  if (listed.status !== 0) return REPO
  const clone = join(work, 'clone')
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (existsSync(join(REPO, file))) cpSync(join(REPO, file), join(clone, file))
  }
  symlinkSync(realpathSync(join(REPO, 'node_modules')), join(clone, 'node_modules'))
  return clone
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'edgeway-package-'))
  // `npm pack` runs the package build (prepack) first.
  const packed = run('npm', ['pack', '--pack-destination', work], cleanClone())
  assert.equal(packed.status, 0, packed.out)
  const tarball = join(work, `edgeway-${VERSION}.tgz`)
  assert.ok(existsSync(tarball), packed.out)
  mkdirSync(join(work, 'unpacked'))
  assert.equal(run('tar', ['-xzf', tarball, '-C', join(work, 'unpacked')], work).status, 0)
  unpacked = join(work, 'unpacked/package')
  // `npx edgeway init my-gateway`: the CLI from the tarball, before the project has any dependency.
  const init = run(process.execPath, [join(unpacked, 'bin/edgeway.mjs'), 'init', 'my-gateway'], work)
  assert.equal(init.status, 0, init.out)
  project = join(work, 'my-gateway')
  install(project)
})
after(() => rmSync(work, { recursive: true, force: true }))

describe('the edgeway package, as a new user meets it', () => {
  it('the tarball holds what a user needs, built: no sources, tests or configs of ours, no SCHEMA_DOCS global left', () => {
    for (const file of ['dist/lib.js', 'dist/types/lib.d.ts', 'dist/testing/workerd.js', 'dist/testing/global-setup.js', 'dist/durable-objects.js', 'dist/edgeway.schema.json', 'bin/edgeway.mjs', 'templates/init/gateway.json', 'public/portal/index.html']) {
      assert.ok(existsSync(join(unpacked, file)), `${file} is in the package`)
    }
    for (const dir of ['src', 'test', 'bench', 'config', 'demo', 'dist/worker']) assert.ok(!existsSync(join(unpacked, dir)), `${dir}/ is not in the package`)
    const js = readdirSync(join(unpacked, 'dist'), { recursive: true }).filter((f) => f.endsWith('.js') && !f.startsWith('node/'))
    for (const file of js) assert.doesNotMatch(readFileSync(join(unpacked, 'dist', file), 'utf8'), /SCHEMA_DOCS/, file)
    assert.equal(JSON.parse(readFileSync(join(unpacked, 'dist/edgeway.schema.json'), 'utf8'))['x-edgeway-version'], VERSION)
  })

  it('init wrote a project whose gateway.json points its $schema into the installed package', () => {
    for (const file of ['package.json', 'wrangler.toml', 'gateway.json', 'src/index.ts', 'src/extensions.ts', 'src/policies/tenant-check.ts', 'test/gateway.test.ts', 'vitest.config.ts', 'README.md', '.gitignore']) {
      assert.ok(existsSync(join(project, file)), `init wrote ${file}`)
    }
    const config = JSON.parse(readFileSync(join(project, 'gateway.json'), 'utf8'))
    const schema = JSON.parse(readFileSync(resolve(project, config.$schema), 'utf8'))
    assert.equal(schema['x-edgeway-version'], VERSION)
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'))
    assert.equal(pkg.dependencies.edgeway, `^${VERSION}`)
    assert.deepEqual(Object.keys(pkg.scripts).sort(), ['check', 'deploy', 'dev', 'schema', 'test'])
    // A second init into the same folder refuses.
    const again = run(process.execPath, [join(unpacked, 'bin/edgeway.mjs'), 'init', 'my-gateway'], work)
    assert.equal(again.status, 1)
    assert.match(again.out, /my-gateway exists and is not empty/)
  })

  it('npm run check: the config with its custom policy, and every Durable Object this version needs, are ok', () => {
    const { status, out } = run('npm', ['run', 'check'], project)
    assert.equal(status, 0, out)
    assert.match(out, /gateway\.json \(the top level\): ok \(2 routes\)/)
    // The custom policy's options are checked by its own schema, at the exact field.
    const config = JSON.parse(readFileSync(join(project, 'gateway.json'), 'utf8'))
    config.routes[1].policies[0].allow = []
    writeFileSync(join(project, 'bad.json'), JSON.stringify(config))
    const bad = run('npx', ['--no-install', 'edgeway', 'check', 'bad.json'], project)
    assert.equal(bad.status, 1, bad.out)
    assert.match(bad.out, /routes\[1\]\.policies\[0\]\.allow: must list at least one tenant/)
  })

  it('npm run schema: the project schema knows custom:tenant-check and its options', () => {
    const { status, out } = run('npm', ['run', 'schema'], project)
    assert.equal(status, 0, out)
    const text = readFileSync(join(project, 'gateway.schema.json'), 'utf8')
    assert.match(text, /"const": "custom:tenant-check"/)
    assert.match(text, /"allow"/)
    assert.equal(JSON.parse(text)['x-edgeway-version'], VERSION)
  })

  it('npm test: the generated tests pass in workerd', () => {
    const { status, out } = run('npm', ['test'], project)
    assert.equal(status, 0, out)
    assert.match(out, /Tests {2}\d+ passed/)
    assert.doesNotMatch(out, /failed/)
  })

  it('tsc: the project type-checks against the package\'s declarations (createWorker, definePolicy, the test kit)', () => {
    const { status, out } = run('npx', ['--no-install', 'tsc', '--noEmit', '-p', '.'], project)
    assert.equal(status, 0, out)
  })

  it('edgeway import-openapi writes a config whose $schema is the installed package\'s; edgeway check takes it', () => {
    const api = { openapi: '3.0.3', info: { title: 'pets', version: '1' }, servers: [{ url: 'https://pets.example.com' }], paths: { '/pets': { get: { operationId: 'listPets', responses: { 200: { description: 'ok' } } } } } }
    writeFileSync(join(project, 'api.json'), JSON.stringify(api))
    const imported = run('npx', ['--no-install', 'edgeway', 'import-openapi', 'api.json', '--out', 'imported.json'], project)
    assert.equal(imported.status, 0, imported.out)
    assert.equal(JSON.parse(readFileSync(join(project, 'imported.json'), 'utf8')).$schema, './node_modules/edgeway/dist/edgeway.schema.json')
    const checked = run('npx', ['--no-install', 'edgeway', 'check', 'imported.json'], project)
    assert.equal(checked.status, 0, checked.out)
    assert.match(checked.out, /imported\.json: ok \(1 routes\)/)
  })

  it('npm run deploy (edgeway deploy) checks, then runs wrangler deploy with the arguments given', () => {
    const { status, out } = run('npm', ['run', 'deploy', '--', '--dry-run', '--outdir', 'dist-deploy'], project)
    assert.equal(status, 0, out)
    assert.match(out, /gateway\.json \(the top level\): ok/)
    assert.ok(existsSync(join(project, 'dist-deploy/index.js')), out)
  })

  it('wrangler deploy --dry-run bundles it, with no define of ours', () => {
    const { status, out } = run('npx', ['--no-install', 'wrangler', 'deploy', '--dry-run', '--outdir', 'dist'], project)
    assert.equal(status, 0, out)
    const bundle = readFileSync(join(project, 'dist/index.js'), 'utf8')
    assert.doesNotMatch(bundle, /SCHEMA_DOCS/)
    // The config schema's descriptions (src/upstream/schema.ts: a target's `weight`) stay out of the Worker.
    assert.doesNotMatch(bundle, /Relative share; 0 drains/)
    assert.match(out, /RATE_LIMITER/)
  })

  it('npm run dev serves offline: a 200, a 404 problem+json, and the custom policy\'s 403 problem+json', async () => {
    const port = await freePort()
    const dev = spawn('npm', ['run', 'dev', '--', '--ip', '127.0.0.1', '--port', String(port), '--show-interactive-dev-session=false'], {
      cwd: project,
      env: ENV,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let log = ''
    dev.stdout.on('data', (chunk) => (log += chunk))
    dev.stderr.on('data', (chunk) => (log += chunk))
    const base = `http://127.0.0.1:${port}`
    try {
      let hello
      for (let i = 0; i < 480 && !hello; i++) {
        hello = await fetch(`${base}/hello`).catch(() => undefined)
        if (!hello) await new Promise((r) => setTimeout(r, 250))
      }
      assert.ok(hello, `wrangler dev answered within 120 s:\n${log}`)
      assert.equal(hello.status, 200)
      assert.deepEqual(await hello.json(), { hello: 'from my-gateway' })

      const missing = await fetch(`${base}/nope`)
      assert.equal(missing.status, 404)
      assert.equal(missing.headers.get('content-type'), 'application/problem+json')
      assert.equal((await missing.json()).status, 404)

      const stranger = await fetch(`${base}/orders/1`, { headers: { 'x-tenant': 'initech' } })
      assert.equal(stranger.status, 403)
      assert.equal(stranger.headers.get('content-type'), 'application/problem+json')
      assert.match((await stranger.json()).detail, /Tenant "initech" may not call this route/)
    } finally {
      // The whole group: npm, wrangler and its workerd.
      try {
        process.kill(-dev.pid, 'SIGTERM')
      } catch {}
      await new Promise((r) => (dev.exitCode !== null ? r() : dev.once('exit', r)))
    }
  })
})
