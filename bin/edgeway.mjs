#!/usr/bin/env node
// `edgeway <command>`: the CLI of a project built on Edgeway (`npx edgeway ...`). Each command is
// one of the package's scripts, which this repository also runs as npm scripts.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const COMMANDS = {
  init: ['init.mjs', 'init <dir> [--name NAME]', 'write a new gateway project in <dir>'],
  check: ['check-config.mjs', 'check [file] [--env X]', 'validate the config(s) and wrangler.toml (Durable Objects, vars, bindings)'],
  schema: ['project-schema.mjs', 'schema [--out FILE]', 'write the JSON Schema of this project (with its custom policies and actions)'],
  'import-openapi': ['import-openapi.mjs', 'import-openapi api.yaml [--out FILE]', 'turn an OpenAPI 3 document into a gateway config'],
  deploy: ['deploy.mjs', 'deploy [--env X] [wrangler args]', 'check, then wrangler deploy'],
  reload: ['reload.mjs', 'reload <file> --env X [--local]', 'write a config to the hot-reload record in KV'],
}

const [command, ...rest] = process.argv.slice(2)
const width = Math.max(...Object.values(COMMANDS).map(([, usage]) => usage.length))
const help = () => `usage: edgeway <command>\n\n${Object.values(COMMANDS).map(([, usage, what]) => `  edgeway ${usage.padEnd(width)}  ${what}`).join('\n')}\n`

if (command === '--version' || command === '-v') {
  console.log(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version)
} else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
  process.stdout.write(help())
} else if (!Object.hasOwn(COMMANDS, command)) {
  process.stderr.write(`edgeway: no command "${command}"\n\n${help()}`)
  process.exit(2)
} else {
  // The script reads its arguments from process.argv, as when npm runs it.
  const script = new URL(`../scripts/${COMMANDS[command][0]}`, import.meta.url)
  process.argv = [process.argv[0], fileURLToPath(script), ...rest]
  await import(script.href)
}
