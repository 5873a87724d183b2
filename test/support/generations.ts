/** Purge generation keys as `src/http-cache/generation.ts` names them, for tests that read or write KV. */
import { sha256Hex } from '../../src/core/encoding'

export const pathKey = async (path: string) => `cache-gen:url:${(await sha256Hex(path)).slice(0, 32)}`
/** The key of a path's bucket: one of 16, by the first hex digit of the path's hash. */
export const bucketKey = async (path: string) => `cache-gen:paths:${(await sha256Hex(path))[0]}`

/** A path under `base` whose bucket is (or, with `same` false, is not) that of `of`. */
export async function pathInBucket(base: string, of: string, same: boolean): Promise<string> {
  const bucket = await bucketKey(of)
  for (let i = 0; i < 500; i++) if (((await bucketKey(`${base}/${i}`)) === bucket) === same) return `${base}/${i}`
  throw new Error('no such path in 500 tries')
}
