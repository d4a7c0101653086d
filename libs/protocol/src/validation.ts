// Request validation shared by every lib that parses input (the intents, inbox and policies use
// cases): a zod failure becomes a 422 with one entry per failing field path (SPEC §1).
import { type z } from 'zod';
import { type FieldError, ValidationFailedError } from './errors';

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
  const codeOf = (issue: z.core.$ZodIssue) =>
    issue.code === 'custom' ? (issue.params as { code?: string } | undefined)?.code : undefined;
  const coded = parsed.error.issues.map(codeOf).find((code) => code !== undefined);
  throw new ValidationFailedError(fields, coded ?? 'validation_error');
}

/** A canonical UUID (any case): ids in paths are checked before a lookup, so a malformed one is a plain 404. */
export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
