// Between proto messages and the REST bodies and views of the use cases.
import { ValidationFailedError } from '@axle/protocol';

export type Json = Record<string, unknown>;

/** The fields the caller set: proto3 has no "unset" for scalars, so "" and 0 stand for it. */
export function given(fields: Json): Json {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== '' && v !== 0));
}

/** A `*_json` field's value; "" is not given. Bad JSON is the same 422 as a bad REST field. */
export function json(text: string, field: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ValidationFailedError([
      { path: field, loc: ['body', field], message: 'must be JSON text', type: 'json_invalid' },
    ]);
  }
}

/** A view's string field, or "" (proto3's unset) for null and anything else. */
export const text = (v: unknown): string => (typeof v === 'string' ? v : '');
