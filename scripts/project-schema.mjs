// `edgeway schema [--out gateway.schema.json] [--extensions src/extensions.ts]`: writes the JSON
// Schema of this project's config: Edgeway's own types and the custom policies and actions
// src/extensions.ts registers (`custom:<name>`, with their options), stamped with the Edgeway
// version that wrote it. Point gateway.json's `$schema` at it for an editor that knows them.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { configTools, extensionsFile } from './config-tools.mjs'
import { PACKAGE, versionedSchema } from './lib.mjs'

const { values } = parseArgs({ options: { out: { type: 'string', default: 'gateway.schema.json' }, extensions: { type: 'string' } } })
const tools = await configTools(extensionsFile(values.extensions))
const policies = tools.extensions?.policies ?? {}
const actions = tools.extensions?.actions ?? {}
const schema = versionedSchema(tools.projectJsonSchema(policies, actions), PACKAGE.version)
writeFileSync(values.out, JSON.stringify(schema, null, 2) + '\n')
const custom = [...Object.keys(policies).map((n) => `policy custom:${n}`), ...Object.keys(actions).map((n) => `action custom:${n}`)]
console.log(`wrote ${values.out} (edgeway ${PACKAGE.version}${custom.length ? `; ${custom.join(', ')}` : ''}); point "$schema" in your config at it`)
