/** What the test pool gives the tests: the Worker's own default export (src/index.ts), as `exports.default`. */
declare namespace Cloudflare {
  interface Exports {
    default: Fetcher
  }
}
