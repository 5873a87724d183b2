// Validates a gateway config file offline: `npm run check:config -- config/production.json`.
// With no argument, checks every config that wrangler.toml bundles. Exit 1 with the problems.
import { readdirSync, readFileSync } from 'node:fs'
import { importTs } from './lib.mjs'

const files = process.argv.slice(2)
if (files.length === 0) {
  // Every config an entry bundles: `import config from '../config/x.json'` in src/index.ts and src/entries/.
  const entries = ['src/index.ts', ...readdirSync('src/entries').map((f) => `src/entries/${f}`)]
  for (const entry of entries) {
    const m = readFileSync(entry, 'utf8').match(/from '(?:\.\.\/)+(config\/[^']+\.json)'/)
    if (m) files.push(m[1])
  }
}
const { parseConfig } = await importTs('src/config/validate.ts')
let failed = false
for (const file of files) {
  let input
  try {
    input = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    console.error(`${file}: cannot read as JSON: ${err.message}`)
    failed = true
    continue
  }
  const result = parseConfig(input)
  if (result.ok) console.log(`${file}: ok (${result.config.routes.length} routes)`)
  else {
    failed = true
    console.error(`${file}: ${result.problems.length} problem(s)`)
    for (const problem of result.problems) console.error(`  - ${problem}`)
  }
}
process.exit(failed ? 1 : 0)
