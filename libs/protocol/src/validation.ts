import { type FieldError, ValidationFailedError } from './errors';
import { type z } from 'zod';

/** Parses with a zod schema; failures become a 422 with one entry per failing field path. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query' = 'body',
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const fields: FieldError[] = parsed.error.issues.map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    return { path: path.join('.'), loc: [where, ...path], message: issue.message, type: issue.code };
  });
  const addressIssue = parsed.error.issues.find(
    (i) =>
      i.code === 'custom' && (i.params as { code?: string } | undefined)?.code === 'invalid_agent_address',
  );
  throw new ValidationFailedError(fields, addressIssue ? 'invalid_agent_address' : 'validation_error');
}
