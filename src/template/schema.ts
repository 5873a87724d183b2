/**
 * @module
 * Schema pieces for config strings that are templates or path expressions: each is compiled at
 * validation, so a syntax error is reported with the field it sits in.
 */
import { checkedString, errorOf } from '../core/schema'
import { parsePath } from './path'
import { compileTemplate } from './template'

/** A string template (`/users/{params.id}`), checked for syntax at validation. */
export const TemplateString = checkedString((source) => errorOf(() => compileTemplate(source)))

/** A path expression (`items[].id`), checked for syntax at validation. */
export const PathString = checkedString((source) => errorOf(() => parsePath(source)))
