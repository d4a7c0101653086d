import { type Principal, requireRole } from '@axle/auth';
import { IntentRepository, orgScope, RegistryRepository } from '@axle/data';
import {
  assertValidTaskSpec,
  RecipientResolver,
  type ScenarioSubmission,
  SubmitIntentUseCase,
} from '@axle/intents';
import {
  type AxleError,
  ForbiddenError,
  NotFoundError,
  parseOrThrow,
  type ScenarioBundle,
  scenarioBundleSchema,
  type ScenarioStepPlan,
  ValidationFailedError,
} from '@axle/protocol';
import { RegistryService } from '@axle/registry';
import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Compiled, compileScenario, type ResolvedAgent } from './compile';

export const APPLY_ROUTE = 'POST /v1/scenarios/apply';

export type ScenarioCommand = {
  principal: Principal;
  body: unknown;
  idempotencyKey?: string | undefined;
  requestId: string;
  traceId?: string | null;
};

type Body = Record<string, unknown>;
type AgentOutcome = ResolvedAgent & { exists: boolean };
type Provisioned = { role: string; address: string; created: boolean; service_account_id: string | null };

/** How long apply waits for the first step to be announced before answering with the status it has. */
const FIRST_STEP_WAIT_MS = 2000;

/**
 * ScenarioBundle validate and apply (reference §3.9, docs/humans.md "Scenarios"). Validate answers
 * `{valid, errors, warnings}` without writing anything. Apply provisions the `create_if_missing`
 * agents (with an API key each, shown once), compiles the steps and submits one intent that carries
 * the plan; its workflow runs the steps. The answer carries both field-name variants real clients read.
 */
@Injectable()
export class ScenarioService {
  constructor(
    private readonly registry: RegistryRepository,
    private readonly registryService: RegistryService,
    private readonly submit: SubmitIntentUseCase,
    private readonly intents: IntentRepository,
    private readonly recipients: RecipientResolver,
  ) {}

  async validate(cmd: ScenarioCommand): Promise<Body> {
    const parsed = scenarioBundleSchema.safeParse(cmd.body ?? {});
    if (!parsed.success)
      return {
        ok: true,
        valid: false,
        errors: parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`),
        warnings: [],
      };
    const { compiled, agents } = await this.compile(cmd.principal, parsed.data);
    const errors = [...compiled.errors, ...missingAgents(agents, cmd.principal)];
    return { ok: true, valid: errors.length === 0, errors, warnings: compiled.warnings };
  }

  async apply(cmd: ScenarioCommand): Promise<{ body: Body; replayed: boolean }> {
    const bundle = parseOrThrow(scenarioBundleSchema, cmd.body ?? {});
    // The SDK copies idempotency_key into the body; the header wins when both are sent.
    const idempotencyKey = cmd.idempotencyKey ?? bundle.idempotency_key;
    const { compiled, agents } = await this.compile(cmd.principal, bundle);
    if (compiled.errors.length > 0 || !compiled.plan) throw invalidScenario(compiled.errors);
    const refused = agents.map((agent) => refusedAgent(agent, cmd.principal)).find((e) => e !== null);
    if (refused) throw refused;
    // The first agent is the intent's recipient, checked by the submit; the later ones here, before
    // anything is provisioned, as handovers from the submitter (SPEC §2 "Policies").
    const bundleAgents = new Set(agents.map((a) => a.address));
    for (const { address, field } of laterRecipients(compiled.plan.steps, compiled.toAgent))
      await this.recipients.resolve(cmd.principal, address, field, {
        requestId: cmd.requestId,
        operation: 'scenario_step',
        registered: bundleAgents.has(address),
      });
    const requestHash = createHash('sha256').update(JSON.stringify(bundle)).digest('hex');
    const provisioned = await this.provision(cmd, agents);
    const compileId = randomUUID();
    const response = (intent: {
      id: string;
      status: string;
      pendingWith: unknown;
      deadlineAt: Date | null;
      createdAt: Date;
    }) => ({
      ok: true,
      intent_id: intent.id,
      scenario_id: bundle.scenario_id,
      status: intent.status,
      pending_with: intent.pendingWith,
      workflow_compile_id: compileId,
      compile_id: compileId,
      idempotent: false,
      agents: provisioned.map(({ role, address, created }) => ({ role, address, created })),
      agents_provisioned: provisioned.map(({ apiKey: _shownOnce, ...p }) => ({ ...p, api_key: null })),
      warnings: compiled.warnings,
      deadline_at: intent.deadlineAt?.toISOString() ?? null,
      created_at: intent.createdAt.toISOString(),
    });
    const scenario: ScenarioSubmission = {
      scenarioId: bundle.scenario_id,
      plan: { ...compiled.plan, compileId },
      route: APPLY_ROUTE,
      response,
    };
    const result = await this.submit.execute({
      principal: cmd.principal,
      body: {
        intent_type: bundle.intent.type,
        to_agent: compiled.toAgent,
        payload: bundle.intent.payload,
        ...(bundle.intent.deadline_at ? { deadline_at: bundle.intent.deadline_at } : {}),
        max_delivery_attempts: bundle.intent.max_delivery_attempts,
      },
      idempotencyKey,
      requestHash,
      requestId: cmd.requestId,
      traceId: cmd.traceId ?? null,
      scenario,
    });
    if (result.replayed) return { body: { ...result.body, idempotent: true }, replayed: true };
    const intentId = String(result.body.intent_id);
    const settled = await this.firstStepAnnounced(cmd.principal.orgId, intentId);
    return {
      body: {
        ...result.body,
        ...(settled ? response(settled) : {}),
        // The keys of agents created here are shown in this answer only, never stored with it.
        agents_provisioned: provisioned.map(({ apiKey, ...p }) => ({ ...p, api_key: apiKey })),
      },
      replayed: false,
    };
  }

  private async compile(
    principal: Principal,
    bundle: ScenarioBundle,
  ): Promise<{ compiled: Compiled; agents: AgentOutcome[] }> {
    const org = await this.registry.findOrganization(orgScope(principal.orgId), principal.orgId);
    const workspace = principal.address.split('/')[3] ?? 'default';
    const compiled = compileScenario(bundle, {
      orgSlug: org?.slug ?? principal.orgSlug,
      workspaceSlug: workspace,
      submitter: principal.address,
    });
    for (const step of compiled.plan?.steps ?? [])
      for (const [task, where] of [
        [step.humanTask, 'human_task'],
        [step.approvalTask, 'human_task'],
        [step.escalateTo?.humanTask, 'escalation task'],
      ] as const)
        if (task) formSchemaErrors(task, `step ${step.id}.${where}`, compiled.errors);
    if (compiled.errors.length > 0) compiled.plan = null;
    const agents = await Promise.all(
      compiled.agents.map(async (agent) => ({
        ...agent,
        exists: (await this.registry.findAgentByAddress(orgScope(principal.orgId), agent.address)) !== null,
      })),
    );
    return { compiled, agents };
  }

  /** Creates the missing `create_if_missing` agents with a key each; needs the org admin role. */
  private async provision(
    cmd: ScenarioCommand,
    agents: AgentOutcome[],
  ): Promise<(Provisioned & { apiKey: string | null })[]> {
    const toCreate = agents.filter((a) => !a.exists && a.createIfMissing);
    if (toCreate.length > 0) requireRole(cmd.principal, 'admin');
    return Promise.all(
      agents.map(async (agent) => {
        if (agent.exists || !agent.createIfMissing)
          return {
            role: agent.role,
            address: agent.address,
            created: false,
            service_account_id: null,
            apiKey: null,
          };
        const [, , , workspace, name] = agent.address.split('/');
        const created = await this.registryService.createServiceAccount({
          principal: cmd.principal,
          requestId: cmd.requestId,
          body: {
            name,
            workspace_id: workspace,
            ...(agent.displayName ? { display_name: agent.displayName } : {}),
            ...(agent.deliveryMode ? { delivery_mode: agent.deliveryMode } : {}),
            ...(agent.callbackUrl ? { callback_url: agent.callbackUrl } : {}),
          },
        });
        const serviceAccountId = String(
          (created.service_account as { service_account_id: string }).service_account_id,
        );
        const key = await this.registryService.createApiKey({
          principal: cmd.principal,
          requestId: cmd.requestId,
          serviceAccountId,
          body: { name: 'scenario' },
        });
        return {
          role: agent.role,
          address: agent.address,
          created: true,
          service_account_id: serviceAccountId,
          apiKey: String((key.key as { token: string }).token),
        };
      }),
    );
  }

  /**
   * The apply answer reports where the flow is (DELIVERED, IN_PROGRESS or WAITING) once the first step
   * is announced; a flow that stays SUBMITTED (internal steps only) is answered after a short wait.
   */
  private async firstStepAnnounced(orgId: string, intentId: string) {
    const deadline = Date.now() + FIRST_STEP_WAIT_MS;
    for (;;) {
      const intent = await this.intents.findById(orgScope(orgId), intentId);
      if (!intent || intent.status !== 'SUBMITTED' || Date.now() > deadline) return intent;
      await sleep(50);
    }
  }
}

/** A form_schema that does not compile is a bundle error, as it is for a plain intent's human_task. */
function formSchemaErrors(task: Record<string, unknown>, where: string, errors: string[]): void {
  try {
    assertValidTaskSpec(task, where);
  } catch (err) {
    if (!(err instanceof ValidationFailedError)) throw err;
    errors.push(...err.fields.map((f) => `${f.path}: ${f.message}`));
  }
}

function invalidScenario(errors: string[]): ValidationFailedError {
  return new ValidationFailedError(
    errors.map((message) => ({
      path: message.split(':')[0] ?? '',
      loc: ['body'],
      message,
      type: 'invalid_scenario',
    })),
    'invalid_scenario',
  );
}

/** The agents a scenario hands its intent to after `first`, each once, with where it is named. */
function laterRecipients(steps: ScenarioStepPlan[], first: string): { address: string; field: string }[] {
  const seen = new Set([first]);
  const found: { address: string; field: string }[] = [];
  const add = (address: string | null | undefined, field: string) => {
    if (!address || seen.has(address)) return;
    seen.add(address);
    found.push({ address, field });
  };
  steps.forEach((step, i) => {
    add(step.agent, `workflow.steps[${i}].assigned_to`);
    add(
      step.escalateTo?.agent,
      `workflow.steps[${i}].${step.kind === 'escalation' ? 'runtime_config.to' : 'escalate_to'}`,
    );
  });
  return found;
}

/**
 * Agents that are not registered and will not be created, as validate reports them; apply answers
 * 404 (like an intent to an unknown address) or 403 (another org's agent cannot be created here).
 */
function missingAgents(agents: AgentOutcome[], principal: Principal): string[] {
  return agents.flatMap((agent) => {
    const refused = refusedAgent(agent, principal);
    return refused ? [refused.message] : [];
  });
}

function refusedAgent(agent: AgentOutcome, principal: Principal): AxleError | null {
  if (agent.exists) return null;
  if (!agent.createIfMissing)
    return new NotFoundError(
      'agent_not_found',
      `agents.${agent.role}: ${agent.address} is not registered and create_if_missing is false`,
    );
  if (agent.address.split('/')[2] !== principal.orgSlug)
    return new ForbiddenError(
      'agent_in_other_org',
      `agents.${agent.role}: ${agent.address} is in another org; only your own org's agents are created`,
    );
  return null;
}
