// Human task types, their default outcomes and the human-task routes' request schemas (SPEC §6,
// reference/axme-wire.md §1.4 "HumanTaskSpec", §3.8). docs/humans.md shows the same table.
import { z } from 'zod';
import { HUMAN_TASK_TYPES } from './intents.schema';

export type HumanTaskType = (typeof HUMAN_TASK_TYPES)[number];

/**
 * Outcomes of a human task that end its intent FAILED rather than COMPLETED. The intent workflow
 * keeps the same set (NEGATIVE_OUTCOMES in intent.workflow.ts); every other outcome completes it.
 */
export const NEGATIVE_TASK_OUTCOMES = ['rejected', 'declined', 'failed', 'denied'] as const;

export type HumanTaskOutcomeRule = {
  /** The outcomes a task_result may carry when the spec has no `allowed_outcomes`. */
  outcomes: readonly string[];
  /** What "approve" means on the inbox and approvals routes and on the email page's first button. */
  approve: string;
  /** What "reject" means there. */
  reject: string;
  /** `task_result.data.<field>` that a positive outcome must carry (delegation, reroute). */
  requiredData?: { outcome: string; field: string };
  /** The positive outcome needs evidence even without `evidence_required` (attach_file). */
  evidenceFor?: string;
};

/**
 * Default outcomes per task_type (CLI conventions, reference §3.8), used when the spec has no
 * `allowed_outcomes`. A task without a task_type is an approval (docs/human-task-flow.md).
 * validate_real_world / validate_output keep approved/rejected (not validated/invalid) so that the
 * inbox approve/reject buttons and the workflow's negative outcomes mean the same thing for them.
 */
export const HUMAN_TASK_OUTCOMES: Record<HumanTaskType, HumanTaskOutcomeRule> = {
  approval: { outcomes: ['approved', 'rejected'], approve: 'approved', reject: 'rejected' },
  confirmation: { outcomes: ['confirmed', 'rejected'], approve: 'confirmed', reject: 'rejected' },
  review: {
    outcomes: ['approved', 'changes_requested', 'rejected'],
    approve: 'approved',
    reject: 'rejected',
  },
  clarification: { outcomes: ['provided', 'declined'], approve: 'provided', reject: 'declined' },
  provide_data: { outcomes: ['provided', 'declined'], approve: 'provided', reject: 'declined' },
  attach_file: {
    outcomes: ['provided', 'declined'],
    approve: 'provided',
    reject: 'declined',
    evidenceFor: 'provided',
  },
  manual_action: { outcomes: ['completed', 'failed'], approve: 'completed', reject: 'failed' },
  validate_real_world: { outcomes: ['approved', 'rejected'], approve: 'approved', reject: 'rejected' },
  validate_output: { outcomes: ['approved', 'rejected'], approve: 'approved', reject: 'rejected' },
  assignment: { outcomes: ['assigned', 'declined'], approve: 'assigned', reject: 'declined' },
  delegation: {
    outcomes: ['assigned', 'declined'],
    approve: 'assigned',
    reject: 'declined',
    requiredData: { outcome: 'assigned', field: 'delegate_to' },
  },
  reroute: {
    outcomes: ['assigned', 'declined'],
    approve: 'assigned',
    reject: 'declined',
    requiredData: { outcome: 'assigned', field: 'route_to' },
  },
  override: { outcomes: ['override_approved', 'rejected'], approve: 'override_approved', reject: 'rejected' },
  escalate: { outcomes: ['escalated', 'rejected'], approve: 'escalated', reject: 'rejected' },
};

/** The rule of a task spec (`task_type` absent or unknown = approval). */
export function humanTaskRule(task: Record<string, unknown>): HumanTaskOutcomeRule {
  const type = task.task_type;
  return typeof type === 'string' && type in HUMAN_TASK_OUTCOMES
    ? HUMAN_TASK_OUTCOMES[type as HumanTaskType]
    : HUMAN_TASK_OUTCOMES.approval;
}

/** The outcomes a task_result may carry: `allowed_outcomes`, else the task type's defaults. */
export function humanTaskOutcomes(task: Record<string, unknown>): string[] {
  if (Array.isArray(task.allowed_outcomes)) {
    const allowed = task.allowed_outcomes.filter((o): o is string => typeof o === 'string');
    if (allowed.length > 0) return allowed;
  }
  return [...humanTaskRule(task).outcomes];
}

/**
 * The outcome an approve/reject button stands for. With explicit `allowed_outcomes` they are the
 * literal `approved`/`rejected` (a list without them makes the button a 422); otherwise the task
 * type's own pair (confirmation: confirmed/rejected, manual_action: completed/failed, …).
 */
export function decisionOutcome(task: Record<string, unknown>, decision: 'approve' | 'reject'): string {
  if (Array.isArray(task.allowed_outcomes) && task.allowed_outcomes.length > 0)
    return decision === 'approve' ? 'approved' : 'rejected';
  const rule = humanTaskRule(task);
  return decision === 'approve' ? rule.approve : rule.reject;
}

export function isNegativeOutcome(outcome: string): boolean {
  return (NEGATIVE_TASK_OUTCOMES as readonly string[]).includes(outcome);
}

/** HumanTask row statuses: open until decided, or closed when its intent ended without a decision. */
export const HUMAN_TASK_STATUSES = ['open', 'decided', 'closed'] as const;
export type HumanTaskStatus = (typeof HUMAN_TASK_STATUSES)[number];

/** `GET /v1/me/tasks`: `status` open (default) | decided | all, keyset `cursor`, `limit` 1..200. */
export const meTasksQuerySchema = z.object({
  status: z.enum(['open', 'decided', 'all']).default('open'),
  cursor: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_-]+$/, 'not a cursor from next_cursor')
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type MeTasksQuery = z.infer<typeof meTasksQuerySchema>;

/** What the email page posts (form fields arrive as strings; JSON bodies may carry any types). */
export const magicLinkDecisionSchema = z.looseObject({
  outcome: z.string().min(1).max(64),
  comment: z.string().max(2000).optional(),
  evidence: z.string().max(4000).optional(),
  /** Raw JSON for `task_result.data` (the textarea fallback of the page). */
  data_json: z.string().max(131_072).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
