/** Keys, tokens and issuer tenants of the test kit (src/testing/issuer.ts), as this repository's auth tests import them. */
export * from '../../src/testing/issuer'
