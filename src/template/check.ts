/**
 * @module
 * Config-time checks of template references, shared by every feature that accepts templates.
 */
import { pathRoot, type ParsedPath } from './path'
import { compileTemplate } from './template'

/**
 * Returns a message for the first reference to an unknown root, or to a path parameter the route
 * pattern doesn't declare; undefined when all references are known.
 */
export function checkTemplateRefs(
  refs: readonly ParsedPath[],
  roots: readonly string[],
  routeParams?: readonly string[],
): string | undefined {
  for (const ref of refs) {
    const root = pathRoot(ref)
    if (!roots.includes(root)) {
      return `unknown template variable "${root}" in "{${ref.source}}" (known: ${roots.join(', ')})`
    }
    if (root === 'params' && routeParams !== undefined) {
      const second = ref.steps[1]
      if (second?.kind === 'key' && !routeParams.includes(second.name)) {
        return `unknown path parameter "${second.name}" (the route declares: ${routeParams.join(', ') || 'none'})`
      }
    }
  }
  return undefined
}

/** Compiles a template string and checks its references in one step (for validators). */
export function checkTemplate(source: string, roots: readonly string[], routeParams?: readonly string[]): string | undefined {
  try {
    return checkTemplateRefs(compileTemplate(source).refs, roots, routeParams)
  } catch (err) {
    return (err as Error).message
  }
}

/** The parameter names a route pattern declares (`/a/:id/:rest{.+}/*` -> id, rest, *). */
export function patternParams(pattern: string): string[] {
  const names = [...pattern.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!)
  if (pattern.endsWith('*')) names.push('*')
  return names
}
