// ScenarioBundle (reference/axme-wire.md §3.9, SPEC §6): the strict spec schema plus the extras the
// docs and CLI send (title, agent delivery_mode/callback_url, optional human contact, workflow
// entry_step/parameters, step input, human_task notify_email). Anything else is refused by name, so a
// misspelt `on_sucess` is an error rather than a silently ignored field. Workflow-safe: the compiled
// plan types are read by the intent workflow.
import { z } from 'zod';
import { humanTaskSchema, INTENT_TYPE_PATTERN } from './intents.schema';

export const STEP_RUNTIME_TYPES = [
  'human_approval',
  'timeout',
  'reminder',
  'delay',
  'escalation',
  'notification',
  /** SPEC §7: a sandboxed job; the intent waits WAITING_FOR_TOOL until it ends. */
  'exec_job',
] as const;
export type StepRuntimeType = (typeof STEP_RUNTIME_TYPES)[number];

/** Built-in tool ids (reference §3.7 "internal") and the step kind each stands for. */
export const STEP_TOOL_IDS: Readonly<Record<string, StepRuntimeType | 'agent'>> = {
  'tool.agent.task.v1': 'agent',
  'tool.approval.human_signoff': 'human_approval',
  'tool.internal.delay': 'delay',
  'tool.internal.notification': 'notification',
  'tool.notification.notify_owner': 'notification',
  'tool.internal.escalation': 'escalation',
};

const role = z.string().min(1).max(64);
const seconds = z.int().min(1).max(31_536_000);
const stepId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only');

const agentSpecSchema = z.strictObject({
  role,
  address: z.string().min(1).max(383),
  create_if_missing: z.boolean().default(false),
  display_name: z.string().max(255).optional(),
  delivery_mode: z.enum(['stream', 'poll', 'http', 'inbox']).optional(),
  callback_url: z
    .url({ protocol: /^https?$/ })
    .max(2048)
    .optional(),
});

const humanSpecSchema = z.strictObject({
  role,
  contact: z.string().min(1).max(320).optional(),
  display_name: z.string().max(255).optional(),
});

const stepSchema = z.strictObject({
  step_id: stepId,
  tool_id: z.string().min(3).max(128).optional(),
  runtime_type: z.enum(STEP_RUNTIME_TYPES).optional(),
  runtime_config: z.record(z.string(), z.unknown()).optional(),
  assigned_to: z.string().min(1).max(383).optional(),
  requires_approval: z.boolean().optional(),
  step_deadline_seconds: seconds.optional(),
  retry: z
    .strictObject({
      max_retries: z.int().min(0).max(100).default(0),
      retry_delay_seconds: z.int().min(0).max(86_400).default(30),
    })
    .optional(),
  human_task: humanTaskSchema.optional(),
  remind_after_seconds: seconds.optional(),
  remind_interval_seconds: seconds.optional(),
  max_reminders: z.int().min(1).max(100).optional(),
  escalate_to: z.string().min(1).max(383).optional(),
  on_success: stepId.optional(),
  on_failure: stepId.optional(),
  input: z.record(z.string(), z.unknown()).optional(),
});

const intentSpecSchema = z.strictObject({
  type: z.string().min(3).max(255).regex(INTENT_TYPE_PATTERN, 'must look like "domain.action.v1"'),
  payload: z.record(z.string(), z.unknown()).default({}),
  deadline_at: z.iso.datetime({ offset: true }).optional(),
  remind_after_seconds: seconds.optional(),
  remind_interval_seconds: seconds.optional(),
  max_reminders: z.int().min(1).max(100).optional(),
  escalate_to: z.string().min(1).max(383).optional(),
  max_delivery_attempts: z.int().min(1).max(100).default(3),
  human_task: humanTaskSchema.optional(),
});

export const scenarioBundleSchema = z.strictObject({
  scenario_id: z
    .string()
    .min(3)
    .max(255)
    .regex(/^[a-z0-9_]+(?:\.[a-z0-9_]+)*$/, 'lower-case words joined by "."'),
  title: z.string().max(255).optional(),
  description: z.string().max(2000).optional(),
  idempotency_key: z.string().min(1).max(255).optional(),
  agents: z.array(agentSpecSchema).max(50).default([]),
  humans: z.array(humanSpecSchema).max(20).default([]),
  workflow: z
    .strictObject({
      macro_id: z.string().max(255).optional(),
      entry_step: stepId.optional(),
      parameters: z.record(z.string(), z.unknown()).optional(),
      steps: z.array(stepSchema).min(1).max(100),
    })
    .optional(),
  intent: intentSpecSchema,
});
export type ScenarioBundle = z.infer<typeof scenarioBundleSchema>;
export type ScenarioStepSpec = z.infer<typeof stepSchema>;

/** How one compiled step runs. */
export type ScenarioStepKind = 'agent' | 'human' | Exclude<StepRuntimeType, 'human_approval'>;

/** Who a human step waits for: contacts (emails or member ids) or, without one, a role name. */
export type StepReminders = { afterSeconds: number; intervalSeconds: number; max: number };

/** One step as the workflow runs it: roles resolved to addresses and contacts at apply time. */
export type ScenarioStepPlan = {
  id: string;
  kind: ScenarioStepKind;
  /** Agent steps (and escalations to an agent): the agent's address. */
  agent: string | null;
  /** Human steps (and approvals): the task, with `assignees` resolved to contacts. */
  humanTask: Record<string, unknown> | null;
  requiresApproval: boolean;
  /** The approval task of an agent step with requires_approval. */
  approvalTask: Record<string, unknown> | null;
  deadlineSeconds: number | null;
  retry: { maxRetries: number; delaySeconds: number };
  reminders: StepReminders | null;
  /** Escalation after unanswered reminders: an agent address or a human task for a contact. */
  escalateTo: { agent: string | null; humanTask: Record<string, unknown> | null } | null;
  config: Record<string, unknown>;
  input: Record<string, unknown> | null;
  onSuccess: string | null;
  onFailure: string | null;
  /** The step after this one in bundle order (the default on success). */
  next: string | null;
};

/** What Intent.workflowPlan holds for a scenario intent. */
export type ScenarioPlan = {
  scenarioId: string;
  compileId: string;
  entryStep: string;
  steps: ScenarioStepPlan[];
  /** Bound on step runs, so a cycle of on_failure/on_success cannot run forever. */
  maxStepRuns: number;
};

/** A notification step's message: email to contacts or a signed webhook POST (never blocks the flow). */
export type NotificationInput = {
  intentId: string;
  orgId: string;
  stepId: string;
  channel: 'email' | 'webhook';
  to: string[];
  url: string | null;
  subject: string;
  message: string;
};

export type NotificationResult = { delivered: boolean; detail: string };

/** An exec_job step's job, started for the intent's sender (runtime_config, checked at apply). */
export type ExecStepInput = {
  intentId: string;
  orgId: string;
  stepId: string;
  /** Counts the step's runs, so a cycle starts a new job rather than finding the last one. */
  run: number;
  config: Record<string, unknown>;
};

export type ExecStepJob = {
  jobId: string;
  status: string;
  exitCode: number | null;
  error: unknown;
  /** Where the job's output can be attached (SSE, cap token of its session needed). */
  logs: string;
};

/** The activities of the exec_job step (worker, with @axle/exec). */
export type ExecStepActivities = {
  startExecJob(input: ExecStepInput): Promise<ExecStepJob>;
  /** Returns once the job is exited, killed or failed; heartbeats meanwhile. */
  awaitExecJob(input: { orgId: string; jobId: string }): Promise<ExecStepJob>;
  cancelExecJob(input: { orgId: string; jobId: string }): Promise<void>;
};
