// Bundles the worker offline (`wrangler deploy --dry-run`) into dist/worker/ and prints its size, with a
// breakdown by area. Two numbers matter: the TARGET (issue 3: 60 KiB gzip, reported as met or
// missed) and the hard BUDGET, over which the build fails so the bundle can't grow unnoticed.
// Pages and assets (portal, dashboard) are Workers Static Assets, outside both.
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { OFFLINE_ENV } from './lib.mjs'

const TARGET_GZIP = 60 * 1024
// Raised from 100 to 106 KiB when the layout and hardening work (issues 13, 14) landed at 101.7 KiB:
// named steps, own-property lookups, depth and regex checks, the refund tombstone. Nothing was
// added by a dependency (the regex check is hand-written so as not to bundle a regex parser).
// Startup and size are issue 16's: it should bring this back down.
// Raised from 106 to 128 KiB when leases, cache revalidation and invalidation, basic-auth, mtls, acl,
// oauth introspection, the consumer store, exact JSON numbers and aggregate cacheability landed
// (issues 15, 17, 19, 21, 22) at 124.3 KiB: features, none of it a new dependency.
// Raised from 128 to 136 KiB for issue 19's signed requests (`http-signature`: RFC 8941 parsing,
// the signature base, Content-Digest, the nonce object; ~4 KiB gzip) and issue 17's interim
// responses and stored-before-answer path, at 132.0 KiB; no dependency. A Worker may be 3 MiB
// (free) or 10 MiB (paid) gzip: this budget only makes growth a decision.
const BUDGET_GZIP = 136 * 1024
rmSync('dist/worker', { recursive: true, force: true })
// wrangler warns when a config with environments is deployed without one: no `--env` means the
// top-level (demo) Worker, and `--env=` says so.
const given = process.argv.slice(2)
const envArgs = given.some((a) => a === '-e' || a === '--env' || a.startsWith('--env=') || a.startsWith('-e=')) ? [] : ['--env=']
const args = ['wrangler', 'deploy', '--dry-run', '--outdir', 'dist/worker', ...envArgs, ...given]
execFileSync('npx', ['--no-install', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...OFFLINE_ENV } })
const js = readdirSync('dist/worker').filter((f) => f.endsWith('.js'))
const raw = Buffer.concat(js.map((f) => readFileSync(`dist/worker/${f}`)))
const gz = gzipSync(raw, { level: 9 }).length
const kib = (n) => (n / 1024).toFixed(1)

// Where the bytes come from: the same entry bundled by esbuild with a metafile (minified).
const entry = process.argv.includes('production') ? 'src/entries/production.ts' : 'src/index.ts'
const { metafile } = await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  minify: true,
  write: false,
  metafile: true,
  external: ['cloudflare:workers'],
  define: { SCHEMA_DOCS: 'false' },
  logLevel: 'silent',
})
const areas = {}
for (const [file, { bytesInOutput }] of Object.entries(Object.values(metafile.outputs)[0].inputs)) {
  const area = file.replace(/.*node_modules\/((@[^/]+\/)?[^/]+)\/.*/, '$1').replace(/^src\/([^/]+)\/.*/, 'src/$1/').replace(/^src\/[^/]+\.ts$/, 'src/*.ts')
  areas[area] = (areas[area] ?? 0) + bytesInOutput
}
const rows = Object.entries(areas).sort((a, b) => b[1] - a[1])
console.log('minified bytes by area: ' + rows.map(([area, bytes]) => `${area} ${kib(bytes)}K`).join(', '))
const verdict = gz <= TARGET_GZIP ? 'within' : 'OVER'
console.log(`bundle: ${kib(raw.length)} KiB raw, ${kib(gz)} KiB gzip — ${verdict} the ${TARGET_GZIP / 1024} KiB target; hard budget ${BUDGET_GZIP / 1024} KiB`)
if (gz > BUDGET_GZIP) {
  console.error('bundle over its hard gzip budget: find what grew (the breakdown above)')
  process.exit(1)
}
