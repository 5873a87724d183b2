// Shared by the project's scripts: the env that keeps wrangler offline and quiet, and a way to
// run the gateway's TypeScript modules in Node (bundled on the fly by esbuild).
import { build } from 'esbuild'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

export const OFFLINE_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  WRANGLER_HIDE_BANNER: 'true',
}

/** Imports a TypeScript module of src/ in Node. */
export async function importTs(entry) {
  const dir = mkdtempSync(join(tmpdir(), 'edgeway-'))
  const outfile = join(dir, 'module.mjs')
  try {
    await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'neutral', mainFields: ['module', 'main'], outfile, logLevel: 'error', define: { SCHEMA_DOCS: 'true' } })
    return await import(pathToFileURL(outfile).href)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for test and bench servers). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}
