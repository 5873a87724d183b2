/**
 * @module
 * Schema pieces for config strings that are templates or path expressions: each is compiled at
 * validation, so a syntax error is reported with the field it sits in.
 */
import { checkedString, errorOf } from '../core/schema'
import { parsePath } from './path'
import { checkHeaderValue, compileTemplate } from './template'

/** A string template (`/users/{params.id}`), checked for syntax at validation. */
export const TemplateString = checkedString((source) => errorOf(() => compileTemplate(source)))

/**
 * A header value template: its literal text (and fallbacks) must be visible ASCII, space and tab,
 * as every rendered header value is checked at run time; a config that would refuse every
 * request is refused at validation instead.
 */
export const HeaderTemplateString = checkedString(
  (source) =>
    errorOf(() => compileTemplate(source)) ??
    (errorOf(() => checkHeaderValue(compileTemplate(source).render({}))) && 'a header value may hold only visible ASCII, space and tab (outside its {...} values)'),
)

/** A path expression (`items[].id`), checked for syntax at validation. */
export const PathString = checkedString((source) => errorOf(() => parsePath(source)))
