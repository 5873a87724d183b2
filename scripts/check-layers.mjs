// Checks that every import in src/ points down the layers (.dependency-cruiser.cjs, drawn in
// docs/architecture.md); exit 1 with the violations, each with its rule's explanation.
//   npm run check:layers
// Not `depcruise` itself: its exit code is the number of violations, which the shell takes modulo
// 256, so exactly 256 violations would pass. Here any violation is exit 1.
import { fileURLToPath } from 'node:url'
import { cruise } from 'dependency-cruiser'
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'

process.chdir(fileURLToPath(new URL('..', import.meta.url)))
const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs')
const result = await cruise(['src'], { ...options, outputType: 'err-long' }, {}, { tsConfig: extractTSConfig(options.tsConfig.fileName) })
process.stdout.write(result.output)
process.exitCode = result.exitCode === 0 ? 0 : 1
