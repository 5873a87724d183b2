/**
 * @module
 * Schema pieces for config strings that are templates or path expressions: each is compiled at
 * validation, so a syntax error is reported with the field it sits in.
 */
import * as v from 'valibot'
import { errorOf } from '../core/schema'
import { parsePath } from './path'
import { compileTemplate } from './template'

/** A string template (`/users/{params.id}`), checked for syntax at validation. */
export const TemplateString = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return
    const error = errorOf(() => compileTemplate(dataset.value))
    if (error) addIssue({ message: error })
  }),
)

/** A path expression (`items[].id`), checked for syntax at validation. */
export const PathString = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return
    const error = errorOf(() => parsePath(dataset.value))
    if (error) addIssue({ message: error })
  }),
)
