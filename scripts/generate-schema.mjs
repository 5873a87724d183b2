// Writes edgeway.schema.json from the config schema in src/config/schema.ts.
import { writeFileSync } from 'node:fs'
import { importTs } from './lib.mjs'

const { gatewayJsonSchema } = await importTs('src/config/json-schema.ts')
writeFileSync('edgeway.schema.json', JSON.stringify(gatewayJsonSchema(), null, 2) + '\n')
console.log('wrote edgeway.schema.json')
