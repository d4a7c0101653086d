// A human task_result is checked against the task's HumanTaskSpec (reference §1.4) before anything
// changes: a result that breaks the spec is a 422 with one entry per failing field.
import { type FieldError } from '@axle/protocol';

export const DEFAULT_OUTCOMES = ['approved', 'rejected'];

export function taskResultErrors(
  task: Record<string, unknown>,
  result: { outcome: string } & Record<string, unknown>,
): FieldError[] {
  const errors: FieldError[] = [];
  const field = (path: string, message: string, type: string) =>
    errors.push({ path: `task_result.${path}`, loc: ['body', 'task_result', path], message, type });
  const allowed = Array.isArray(task.allowed_outcomes)
    ? (task.allowed_outcomes as unknown[]).filter((o): o is string => typeof o === 'string')
    : null;
  if (allowed && !allowed.includes(result.outcome))
    field('outcome', `must be one of ${allowed.join(', ')}`, 'enum');
  const comment = result.comment;
  if (task.required_comment === true && (typeof comment !== 'string' || comment.trim() === ''))
    field('comment', 'a comment is required for this task', 'missing');
  const data = result.data && typeof result.data === 'object' ? (result.data as Record<string, unknown>) : {};
  const evidence = data.evidence ?? result.evidence;
  if (task.evidence_required === true && (evidence === undefined || evidence === null || evidence === ''))
    field('data.evidence', 'evidence is required for this task', 'missing');
  return errors;
}
