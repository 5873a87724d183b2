/** The local OIDC issuer of the test kit (src/testing/node/issuer-server.ts), where this repository's harnesses import it. */
export * from '../../src/testing/node/issuer-server.ts'
