// ScenarioBundle → the plan the intent workflow runs (docs/humans.md "Scenarios"). Pure: the caller
// resolves which agents exist; this checks the graph, resolves roles to addresses and contacts, and
// says what is wrong (errors) or suspicious (warnings) in words a bundle author can act on.
import {
  agentAddress,
  parseAgentAddress,
  SANDBOX_TIERS,
  type ScenarioBundle,
  type ScenarioPlan,
  type ScenarioStepKind,
  type ScenarioStepPlan,
  type ScenarioStepSpec,
  STEP_TOOL_IDS,
  type StepReminders,
} from '@axle/protocol';

export const MAX_STEP_RUNS = 1000;

/** Where the bundle is applied: short agent names resolve in the caller's org and workspace. */
export type CompileContext = { orgSlug: string; workspaceSlug: string; submitter: string };

export type ResolvedAgent = {
  role: string;
  address: string;
  createIfMissing: boolean;
  displayName: string | null;
  deliveryMode: string | null;
  callbackUrl: string | null;
};

export type Compiled = {
  errors: string[];
  warnings: string[];
  agents: ResolvedAgent[];
  plan: Omit<ScenarioPlan, 'compileId'> | null;
  /** The intent's first handler: the first agent step in run order, else the submitter. */
  toAgent: string;
};

type Target = { agent: string } | { contacts: string[]; role: string };

export function compileScenario(bundle: ScenarioBundle, ctx: CompileContext): Compiled {
  const errors: string[] = [];
  const warnings: string[] = [];
  const agents: ResolvedAgent[] = [];
  const agentRoles = new Map<string, string>();
  const humanRoles = new Map<string, { contact: string | null }>();

  bundle.agents.forEach((spec, i) => {
    const address = spec.address.startsWith('agent://')
      ? (parseAgentAddress(spec.address)?.canonical ?? null)
      : shortNameAddress(ctx, spec.address);
    if (!address)
      return errors.push(`agents[${i}].address: "${spec.address}" is not an agent address or name`);
    if (agentRoles.has(spec.role)) errors.push(`agents[${i}].role: role "${spec.role}" is used twice`);
    if (spec.delivery_mode === 'http' && !spec.callback_url)
      errors.push(`agents[${i}].callback_url: required when delivery_mode is http`);
    agentRoles.set(spec.role, address);
    agents.push({
      role: spec.role,
      address,
      createIfMissing: spec.create_if_missing,
      displayName: spec.display_name ?? null,
      deliveryMode: spec.delivery_mode ?? null,
      callbackUrl: spec.callback_url ?? null,
    });
  });
  bundle.humans.forEach((spec, i) => {
    if (humanRoles.has(spec.role) || agentRoles.has(spec.role))
      errors.push(`humans[${i}].role: role "${spec.role}" is used twice`);
    humanRoles.set(spec.role, { contact: spec.contact?.toLowerCase() ?? null });
    if (!spec.contact)
      warnings.push(`humans[${i}]: no contact, so ${spec.role}'s tasks reach no inbox or email`);
  });

  const resolve = (ref: string, where: string): Target | null => {
    const agent = agentRoles.get(ref);
    if (agent) return { agent };
    const human = humanRoles.get(ref);
    if (human) return { contacts: human.contact ? [human.contact] : [], role: ref };
    if (ref.startsWith('agent://')) {
      const parsed = parseAgentAddress(ref);
      if (parsed) return { agent: parsed.canonical };
    } else if (ref.includes('@')) return { contacts: [ref.toLowerCase()], role: ref };
    errors.push(`${where}: "${ref}" is not a role of agents[] or humans[], an agent address or an email`);
    return null;
  };
  const contactsOf = (refs: unknown, where: string): string[] =>
    (Array.isArray(refs) ? refs : typeof refs === 'string' ? [refs] : []).flatMap((ref, i) => {
      if (typeof ref !== 'string') return [];
      const target = resolve(ref, `${where}[${i}]`);
      if (target && 'agent' in target) {
        errors.push(`${where}[${i}]: "${ref}" is an agent; people are humans[] roles or emails`);
        return [];
      }
      return target?.contacts ?? [];
    });
  const approvers = (): string[] => {
    const named = humanRoles.get('approver')?.contact;
    if (named) return [named];
    return [...humanRoles.values()].flatMap((h) => (h.contact ? [h.contact] : []));
  };

  const specs: ScenarioStepSpec[] = bundle.workflow?.steps ?? defaultSteps(bundle, errors);
  const ids = new Set<string>();
  for (const [i, spec] of specs.entries()) {
    if (ids.has(spec.step_id)) errors.push(`workflow.steps[${i}].step_id: "${spec.step_id}" is used twice`);
    ids.add(spec.step_id);
  }
  if (bundle.workflow?.macro_id)
    warnings.push(
      'workflow.macro_id: macros are not expanded by this server; the steps given run as they are',
    );

  const steps = specs.map((spec, i): ScenarioStepPlan => {
    const where = `workflow.steps[${i}]`;
    const kind = stepKind(spec, where, errors, (ref) => agentRoles.has(ref) || ref.startsWith('agent://'));
    const target = spec.assigned_to ? resolve(spec.assigned_to, `${where}.assigned_to`) : null;
    const config = { ...(spec.runtime_config ?? {}) };
    let agent: string | null = null;
    let humanTask: Record<string, unknown> | null = null;
    if (kind === 'agent') {
      if (target && 'agent' in target) agent = target.agent;
      else errors.push(`${where}.assigned_to: an agent step needs an agent role or address`);
    }
    if (kind === 'human') {
      const assignees = [
        ...(target && 'contacts' in target ? target.contacts : []),
        ...contactsOf(spec.human_task?.assignees ?? config.assignees, `${where}.human_task.assignees`),
      ];
      if (target && 'agent' in target)
        errors.push(`${where}.assigned_to: a human step needs a humans[] role or an email`);
      humanTask = {
        title: `Approve step ${spec.step_id}`,
        task_type: 'approval',
        ...(spec.human_task ?? {}),
        ...(assignees.length > 0 ? { assignees: [...new Set(assignees)] } : {}),
      };
      if (assignees.length === 0)
        warnings.push(`${where}: nobody is assigned, so the task is decided from the submitter's inbox`);
    }
    const reminders = remindersOf(spec, bundle);
    const escalateRef = spec.escalate_to ?? (kind === 'human' ? bundle.intent.escalate_to : undefined);
    let escalateTo: ScenarioStepPlan['escalateTo'] = null;
    if (escalateRef && !reminders)
      errors.push(`${where}.escalate_to: escalation follows unanswered reminders; set remind_after_seconds`);
    const escalationTarget = kind === 'escalation' ? config.to : escalateRef;
    if (typeof escalationTarget === 'string') {
      const t = resolve(
        escalationTarget,
        kind === 'escalation' ? `${where}.runtime_config.to` : `${where}.escalate_to`,
      );
      if (t)
        escalateTo =
          'agent' in t
            ? { agent: t.agent, humanTask: null }
            : {
                agent: null,
                humanTask: {
                  ...(humanTask ?? { title: `Escalated: step ${spec.step_id}`, task_type: 'escalate' }),
                  assignees: t.contacts,
                },
              };
    } else if (kind === 'escalation') errors.push(`${where}.runtime_config.to: an escalation needs a target`);
    checkConfig(kind, config, where, errors, contactsOf);
    return {
      id: spec.step_id,
      kind,
      agent,
      humanTask,
      requiresApproval: spec.requires_approval === true,
      approvalTask:
        spec.requires_approval === true && kind === 'agent'
          ? {
              title: `Approve the result of step ${spec.step_id}`,
              task_type: 'approval',
              ...(spec.human_task ?? {}),
              ...assigneesField(
                spec.human_task?.assignees
                  ? contactsOf(spec.human_task.assignees, `${where}.human_task.assignees`)
                  : approvers(),
              ),
            }
          : null,
      deadlineSeconds: spec.step_deadline_seconds ?? null,
      retry: {
        maxRetries: spec.retry?.max_retries ?? 0,
        delaySeconds: spec.retry?.retry_delay_seconds ?? 30,
      },
      reminders: kind === 'agent' || kind === 'human' ? reminders : null,
      escalateTo,
      config,
      input: spec.input ?? null,
      onSuccess: spec.on_success ?? null,
      onFailure: spec.on_failure ?? null,
      next: specs[i + 1]?.step_id ?? null,
    };
  });

  for (const step of steps)
    for (const [field, ref] of [
      ['on_success', step.onSuccess],
      ['on_failure', step.onFailure],
    ] as const)
      if (ref && !ids.has(ref)) errors.push(`step ${step.id}.${field}: no step "${ref}"`);
  const entryStep = bundle.workflow?.entry_step ?? steps[0]?.id ?? '';
  if (bundle.workflow?.entry_step && !ids.has(entryStep))
    errors.push(`workflow.entry_step: no step "${entryStep}"`);
  const reachable = reachableSteps(steps, entryStep);
  for (const step of steps)
    if (!reachable.includes(step.id)) warnings.push(`step ${step.id} is never reached from ${entryStep}`);

  const firstAgent = reachable.map((id) => steps.find((s) => s.id === id)?.agent).find((a) => a);
  return {
    errors,
    warnings,
    agents,
    plan:
      errors.length === 0
        ? { scenarioId: bundle.scenario_id, entryStep, steps, maxStepRuns: MAX_STEP_RUNS }
        : null,
    toAgent: firstAgent ?? ctx.submitter,
  };
}

function shortNameAddress(ctx: CompileContext, name: string): string | null {
  return parseAgentAddress(agentAddress(ctx.orgSlug, ctx.workspaceSlug, name))?.canonical ?? null;
}

/** Without a workflow: one step for the first agent, else one human task for the humans. */
function defaultSteps(bundle: ScenarioBundle, errors: string[]): ScenarioStepSpec[] {
  const agent = bundle.agents[0];
  if (agent) return [{ step_id: 'main', assigned_to: agent.role }];
  const human = bundle.humans[0];
  if (human) return [{ step_id: 'main', assigned_to: human.role, runtime_type: 'human_approval' }];
  errors.push('workflow.steps: a scenario without agents[] or humans[] needs workflow steps');
  return [];
}

function stepKind(
  spec: ScenarioStepSpec,
  where: string,
  errors: string[],
  isAgent: (ref: string) => boolean,
): ScenarioStepKind {
  const fromTool = spec.tool_id ? STEP_TOOL_IDS[spec.tool_id] : undefined;
  if (spec.tool_id && !fromTool) errors.push(`${where}.tool_id: unknown tool "${spec.tool_id}"`);
  const runtime = spec.runtime_type ?? (fromTool !== 'agent' ? fromTool : undefined);
  if (runtime === 'human_approval') return 'human';
  if (runtime) return runtime;
  if (fromTool === 'agent') return 'agent';
  if (spec.assigned_to) return isAgent(spec.assigned_to) ? 'agent' : 'human';
  if (spec.human_task) return 'human';
  errors.push(`${where}: a step needs assigned_to, runtime_type or tool_id`);
  return 'agent';
}

function remindersOf(spec: ScenarioStepSpec, bundle: ScenarioBundle): StepReminders | null {
  const after = spec.remind_after_seconds ?? bundle.intent.remind_after_seconds;
  if (!after) return null;
  return {
    afterSeconds: after,
    intervalSeconds: spec.remind_interval_seconds ?? bundle.intent.remind_interval_seconds ?? after,
    max: spec.max_reminders ?? bundle.intent.max_reminders ?? 1,
  };
}

function assigneesField(assignees: string[]): Record<string, unknown> {
  return assignees.length > 0 ? { assignees: [...new Set(assignees)] } : {};
}

/** The runtime_config each internal step reads, checked at apply time instead of failing mid-flow. */
function checkConfig(
  kind: ScenarioStepKind,
  config: Record<string, unknown>,
  where: string,
  errors: string[],
  contactsOf: (refs: unknown, where: string) => string[],
): void {
  const seconds = (key: string, alt: string) => {
    const value = config[key] ?? config[alt];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 31_536_000)
      errors.push(`${where}.runtime_config.${key}: a whole number of seconds (0..31536000) is required`);
    else config.seconds = value;
  };
  if (kind === 'delay') seconds('seconds', 'delay_seconds');
  if (kind === 'exec_job') {
    const { command, code, sandbox_tier: tier } = config;
    const argv = Array.isArray(command) && command.length > 0 && command.every((a) => typeof a === 'string');
    if (!argv && typeof code !== 'string')
      errors.push(`${where}.runtime_config: an exec_job needs command (an argv array) or code`);
    if (tier !== undefined && !(SANDBOX_TIERS as readonly unknown[]).includes(tier))
      errors.push(`${where}.runtime_config.sandbox_tier: one of ${SANDBOX_TIERS.join(', ')}`);
  }
  if (kind === 'timeout') seconds('seconds', 'timeout_seconds');
  if (kind === 'reminder' || kind === 'notification') {
    config.to = contactsOf(config.to, `${where}.runtime_config.to`);
    const url = config.url ?? config.webhook_url;
    const channel = config.channel ?? (url ? 'webhook' : 'email');
    if (channel !== 'email' && channel !== 'webhook')
      errors.push(`${where}.runtime_config.channel: must be email or webhook`);
    if (kind === 'notification' && channel === 'webhook' && !isHttpUrl(url))
      errors.push(`${where}.runtime_config.url: a webhook notification needs an http(s) url`);
    if (kind === 'notification' && channel === 'email' && (config.to as string[]).length === 0)
      errors.push(`${where}.runtime_config.to: an email notification needs recipients`);
    config.channel = channel;
    if (url !== undefined) config.url = url;
  }
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 2048) return false;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** Step ids reachable from the entry by on_success, on_failure and bundle order. */
function reachableSteps(steps: ScenarioStepPlan[], entry: string): string[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const seen: string[] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const id = queue.shift()!;
    const step = byId.get(id);
    if (!step || seen.includes(id)) continue;
    seen.push(id);
    queue.push(...[step.onSuccess ?? step.next, step.onFailure].filter((s): s is string => s !== null));
  }
  return seen;
}
