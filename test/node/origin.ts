/** The controllable origin of the test kit (src/testing/node/origin-server.ts), where this repository's harnesses and bench import it. */
export * from '../../src/testing/node/origin-server.ts'
