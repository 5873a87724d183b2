/**
 * @module
 * What the CLI (`edgeway check`, `schema`, `reload`, `deploy`, `import-openapi`) runs in Node: the
 * package's public API (so a project's custom policies, bundled with this module, share it) and
 * the gateway's own config validation and build-time preparation, record format and schema generator. Built into
 * dist/node/tools.js with the schema's descriptions kept; in a source checkout the scripts bundle
 * this file on the fly instead (scripts/lib.mjs).
 */
export * from '../../src/lib'
export { parseConfig } from '../../src/config/parse'
export { prepareConfig } from '../../src/config/prepared'
export { checkEnvironment } from '../../src/config/environment'
export { formatRecord, nextVersion, readRecordText } from '../../src/config/record'
export { gatewayJsonSchema } from '../../src/config/json-schema'
export { importOpenApi } from '../openapi/convert'
