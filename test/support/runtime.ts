/** The controllable runtime of the test kit (src/testing/runtime.ts), as this repository's tests import it. */
export * from '../../src/testing/runtime'
