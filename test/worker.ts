/**
 * The worker under test (the pool's `main`): the gateway with the test config, or a gateway a test
 * serves through it (`test/support/served.ts`, named by its header).
 */
import config from './fixtures/gateway.json'
import type { Env } from '../src/core/env'
import { createWorker } from '../src/lib'
import { SERVED_HEADER, servedGateways } from './support/served'

export * from '../src/gateway/durable-objects'

const worker = createWorker(config)

export default {
  fetch(request, env, ctx) {
    const served = request.headers.get(SERVED_HEADER)
    if (served !== null) return servedGateways().get(served)?.fetch(request, env, ctx) ?? new Response('no such served gateway', { status: 404 })
    return worker.fetch!(request, env, ctx)
  },
} satisfies ExportedHandler<Env>
