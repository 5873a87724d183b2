/**
 * @module
 * Looking a name up in a config record. Config records (`upstreams`, `plans`, `consumers`,
 * `versioning.versions`) are plain objects, so `record[name]` also finds what every object
 * inherits: `constructor`, `toString`, `hasOwnProperty`... A reference checked that way passes
 * validation and then finds nothing at run time (where the compiled lookups are Maps). Every
 * lookup of a configured name goes through `own`.
 */

/** The record's own entry under `key`, never an inherited one. */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined
}
