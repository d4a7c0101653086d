import { type Principal, requireRole, tenantScopeOf } from '@axle/auth';
import {
  type AgentPolicyRecord,
  AuditRepository,
  orgScope,
  type OrgScope,
  type PolicyEntryRecord,
  PolicyRepository,
  RegistryRepository,
} from '@axle/data';
import {
  agentAddressOrThrow,
  agentReceiveOverrideSchema,
  agentSendPolicySchema,
  normalizeSenderPattern,
  NotFoundError,
  orgReceivePolicySchema,
  parseAgentAddress,
  parseOrThrow,
  POLICY_DECISION_AUDIT_ACTION,
  POLICY_ENTRIES_MAX,
  type PolicyDecisionKind,
  type PolicyEntryKind,
  policyEntrySchema,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { evaluatePolicies, type PolicyVerdict } from './policy-evaluator';
import { toEntryView } from './policy.view';

/** What every policy route gets from the gateway. */
export type PolicyCommand = {
  principal: Principal;
  /** Which list: the org's receive policy, an agent's receive override, or an agent's send policy. */
  kind: PolicyEntryKind;
  /** The org (id or slug) for org_receive; the agent address (any accepted form) otherwise. */
  ref: string;
  requestId: string;
};

type Body = Record<string, unknown>;

/** The policy a route acts on, found in the caller's scope. */
type Target = {
  kind: PolicyEntryKind;
  scope: OrgScope;
  /** PolicyEntry.owner: the org id, or the agent address. */
  owner: string;
  orgSlug: string;
  type: string;
  agent: AgentPolicyRecord | null;
};

/** The wire name of each list's type field, and the body key the policy is answered under. */
const SHAPE: Record<PolicyEntryKind, { field: 'policy_type' | 'override_type'; key: 'policy' | 'override' }> =
  {
    org_receive: { field: 'policy_type', key: 'policy' },
    agent_receive: { field: 'override_type', key: 'override' },
    agent_send: { field: 'policy_type', key: 'policy' },
  };

/** Context of a decision for its audit rows. */
export type PolicyAuditContext = {
  principal: Principal;
  requestId: string;
  /** What it was for: a new intent, or a handover (transfer, inbox delegate, a scenario's later step). */
  operation: 'send' | 'transfer' | 'delegate' | 'scenario_step';
  intentId?: string | null;
  /** A platform admin went past a deny or escalate (SPEC §2: admins may, and are audited). */
  bypassed?: boolean;
};

/**
 * Send and receive policies (SPEC §2 "Policies"): reads and writes of the three policy kinds and their
 * entries (reference §1.3 "Policies and governance"), and the decision for a send.
 */
@Injectable()
export class PolicyService {
  constructor(
    private readonly policies: PolicyRepository,
    private readonly registry: RegistryRepository,
    private readonly audit: AuditRepository,
  ) {}

  // ---------------------------------------------------------------------------------------------
  // Decisions

  /** The verdict for a send from `sender` to `recipient` (any accepted address form). */
  async evaluate(sender: { address: string; orgId: string }, recipient: string): Promise<PolicyVerdict> {
    const address = agentAddressOrThrow(recipient, 'to_agent', 'body');
    const policies = await this.policies.recipientPolicies(address.org, address.canonical);
    return evaluatePolicies(sender, address.canonical, policies);
  }

  /**
   * Audits a decision as `policy.decision` when a policy took part in it: every deny and escalate,
   * and an allow across orgs or by a matching entry (an intra-org send no rule matched is not a
   * policy decision). The row is written in the sender's org and, across orgs, in the recipient's too,
   * so operators on both sides see it.
   */
  async recordDecision(verdict: PolicyVerdict, ctx: PolicyAuditContext): Promise<void> {
    if (verdict.decision === 'allow' && !verdict.crossOrg && !verdict.rule) return;
    const effective: PolicyDecisionKind = ctx.bypassed ? 'allow' : verdict.decision;
    const orgIds = new Set([ctx.principal.orgId]);
    if (verdict.crossOrg && verdict.recipientOrgId) orgIds.add(verdict.recipientOrgId);
    const details = {
      decision: effective,
      policy_decision: verdict.decision,
      code: verdict.code,
      rule: verdict.rule,
      policy: verdict.policy,
      approver: verdict.approver,
      sender: verdict.sender,
      recipient: verdict.recipient,
      cross_org: verdict.crossOrg,
      operation: ctx.operation,
      ...(ctx.bypassed ? { bypassed: true } : {}),
      ...(ctx.intentId ? { intent_id: ctx.intentId } : {}),
    };
    for (const orgId of orgIds)
      await this.audit.record({
        orgId,
        actorType: ctx.principal.kind,
        actorId: ctx.principal.actorId,
        action: POLICY_DECISION_AUDIT_ACTION,
        targetType: ctx.intentId ? 'intent' : 'agent',
        targetId: ctx.intentId ?? verdict.recipient,
        outcome: effective === 'deny' ? 'denied' : 'success',
        requestId: ctx.requestId,
        details,
      });
  }

  // ---------------------------------------------------------------------------------------------
  // Policy routes: reads need operator, writes admin (or a platform admin); another org is a 404.

  async get(cmd: PolicyCommand): Promise<Body> {
    const target = await this.target(cmd, 'operator');
    return this.answer(target);
  }

  /** `PUT`: sets the policy type; the entries stay. */
  async set(cmd: PolicyCommand & { body: unknown }): Promise<Body> {
    const target = await this.target(cmd, 'admin');
    const type = this.parseType(cmd.kind, cmd.body);
    if (cmd.kind === 'org_receive') await this.policies.setOrgReceivePolicy(target.scope, type);
    else
      await this.policies.setAgentPolicy(
        target.scope,
        target.owner,
        cmd.kind === 'agent_send' ? { sendPolicy: type } : { receiveOverride: type },
      );
    await this.auditWrite(cmd, target, 'policy.update', { from: target.type, to: type });
    return this.answer({ ...target, type });
  }

  /**
   * `POST …/entries`: appends a rule. Without `decision` it takes the list's meaning now: deny in a
   * denylist, allow otherwise; the stored decision is what counts from then on.
   */
  async addEntry(cmd: PolicyCommand & { body: unknown }): Promise<Body> {
    const target = await this.target(cmd, 'admin');
    const request = parseOrThrow(policyEntrySchema, cmd.body ?? {});
    const decision: PolicyDecisionKind =
      request.decision ?? (target.kind === 'agent_send' && target.type === 'denylist' ? 'deny' : 'allow');
    const approver = request.approver ? parseAgentAddress(request.approver)!.canonical : null;
    if (approver && parseAgentAddress(approver)!.org !== target.orgSlug)
      throw new ValidationFailedError([
        {
          path: 'approver',
          loc: ['body', 'approver'],
          message: `the approver must be an address in ${target.orgSlug}, the organization that owns this policy`,
          type: 'approver_outside_org',
        },
      ]);
    const entry = await this.policies.addEntry(
      target.scope,
      {
        kind: target.kind,
        owner: target.owner,
        pattern: normalizeSenderPattern(request.sender_pattern)!,
        decision,
        approver,
        createdBy: cmd.principal.actorId,
      },
      POLICY_ENTRIES_MAX,
    );
    await this.auditWrite(cmd, target, 'policy.entry.create', { entry: toEntryView(entry) });
    return { ...(await this.answer(target)), entry: toEntryView(entry) };
  }

  /** `DELETE …/entries/{entry_id}`: 404 for an id this list does not hold. */
  async deleteEntry(cmd: PolicyCommand & { entryId: string }): Promise<Body> {
    const target = await this.target(cmd, 'admin');
    const deleted = await this.policies.deleteEntry(target.scope, target.kind, target.owner, cmd.entryId);
    if (!deleted) throw new NotFoundError('policy_entry_not_found', `policy entry ${cmd.entryId} not found`);
    await this.auditWrite(cmd, target, 'policy.entry.delete', { entry_id: cmd.entryId });
    return { ...(await this.answer(target)), entry_id: cmd.entryId, deleted: true };
  }

  // ---------------------------------------------------------------------------------------------

  private async target(cmd: PolicyCommand, role: 'operator' | 'admin'): Promise<Target> {
    const scope = tenantScopeOf(cmd.principal);
    if (cmd.kind === 'org_receive') {
      const org = await this.registry.findOrganization(scope, cmd.ref);
      if (!org) throw new NotFoundError('organization_not_found', `organization ${cmd.ref} not found`);
      requireRole(cmd.principal, role);
      return {
        kind: cmd.kind,
        scope: orgScope(org.id),
        owner: org.id,
        orgSlug: org.slug,
        type: org.receivePolicy,
        agent: null,
      };
    }
    const address = agentAddressOrThrow(cmd.ref);
    const agent = await this.policies.findAgent(scope, address.canonical);
    if (!agent) throw new NotFoundError('agent_not_found', `agent ${address.canonical} not found`);
    requireRole(cmd.principal, role);
    return {
      kind: cmd.kind,
      scope: orgScope(agent.orgId),
      owner: agent.address,
      orgSlug: address.org,
      type: cmd.kind === 'agent_send' ? agent.sendPolicy : agent.receiveOverride,
      agent,
    };
  }

  private parseType(kind: PolicyEntryKind, body: unknown): string {
    switch (kind) {
      case 'org_receive':
        return parseOrThrow(orgReceivePolicySchema, body ?? {}).policy_type;
      case 'agent_receive':
        return parseOrThrow(agentReceiveOverrideSchema, body ?? {}).override_type;
      case 'agent_send':
        return parseOrThrow(agentSendPolicySchema, body ?? {}).policy_type;
    }
  }

  /** `{ok, org_id|address, policy|override: {policy_type|override_type, entries}}` (the CLI's shape). */
  private async answer(target: Target): Promise<Body> {
    const entries = await this.policies.listEntries(target.scope, target.kind, target.owner);
    const shape = SHAPE[target.kind];
    const subject =
      target.kind === 'org_receive'
        ? { org_id: target.owner, org_slug: target.orgSlug }
        : { address: target.owner };
    return {
      ok: true,
      ...subject,
      [shape.key]: {
        [shape.field]: target.type,
        entries: entries.map((e: PolicyEntryRecord) => toEntryView(e)),
      },
    };
  }

  private async auditWrite(cmd: PolicyCommand, target: Target, action: string, details: Body): Promise<void> {
    await this.audit.record({
      orgId: target.scope.orgId,
      actorType: cmd.principal.kind,
      actorId: cmd.principal.actorId,
      action,
      targetType: target.kind === 'org_receive' ? 'organization' : 'agent',
      targetId: target.owner,
      outcome: 'success',
      requestId: cmd.requestId,
      details: { kind: target.kind, ...details },
    });
  }
}
