// Send and receive policies (SPEC §2 "Policies", reference/axme-wire.md §1.2 cross-org errors, §1.3
// "Policies and governance", §4 cross-org order; MXP's allow/deny/escalate): policy types, decisions,
// deny codes, sender patterns and the request bodies of the policy routes. Workflow-safe.
import { z } from 'zod';
import { parseAgentAddress } from './address';
import { agentAddressSchema } from './intents.schema';

/** `PUT /v1/organizations/{org}/receive-policy`: who outside the org may send into it. */
export const ORG_RECEIVE_POLICY_TYPES = ['open', 'allowlist', 'closed'] as const;
export type OrgReceivePolicyType = (typeof ORG_RECEIVE_POLICY_TYPES)[number];

/** `PUT /v1/agents/{address}/receive-override`: one agent's own cross-org rule. */
export const AGENT_RECEIVE_OVERRIDE_TYPES = ['use_org_default', 'open', 'allowlist', 'closed'] as const;
export type AgentReceiveOverrideType = (typeof AGENT_RECEIVE_OVERRIDE_TYPES)[number];

/** `PUT /v1/agents/{address}/policy`: who may send to this agent at all, whatever their org. */
export const AGENT_SEND_POLICY_TYPES = ['open', 'allowlist', 'denylist'] as const;
export type AgentSendPolicyType = (typeof AGENT_SEND_POLICY_TYPES)[number];

export const POLICY_DECISIONS = ['allow', 'deny', 'escalate'] as const;
export type PolicyDecisionKind = (typeof POLICY_DECISIONS)[number];

/** Which list an entry belongs to: org_receive (owner = org id) or agent_* (owner = agent address). */
export const POLICY_ENTRY_KINDS = ['org_receive', 'agent_receive', 'agent_send'] as const;
export type PolicyEntryKind = (typeof POLICY_ENTRY_KINDS)[number];

/** 403 codes of a denied send (reference §1.2; `policy_denied` is the protocol's generic code). */
export const POLICY_DENY_CODES = {
  orgClosed: 'receiver_org_closed',
  agentClosed: 'receiver_agent_closed',
  notInReceiveAllowlist: 'sender_not_in_receive_allowlist',
  denied: 'policy_denied',
} as const;

/** The audit action of every policy decision Axle takes (SPEC §2 "Audit"). */
export const POLICY_DECISION_AUDIT_ACTION = 'policy.decision';

/** The inbox thread kind of an escalated intent's approval task. */
export const POLICY_APPROVAL_THREAD_KIND = 'approval';

export const SENDER_PATTERN_MAX_LENGTH = 383;
/** Entries per list; more is a 409 (first-match lists this long are a misconfiguration). */
export const POLICY_ENTRIES_MAX = 500;

const PREFIX_BODY = /^[a-z0-9._/-]*$/;

/**
 * The stored form of a sender pattern, or null when it is not one: an agent address in any accepted
 * form (stored canonical, matches exactly), or a prefix ending in a single `*` (`agent://partner/*`,
 * `agent://acme/ops/*`), or `*` alone (any sender).
 */
export function normalizeSenderPattern(text: string): string | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > SENDER_PATTERN_MAX_LENGTH) return null;
  if (text === '*') return text;
  if (text.endsWith('*')) {
    const prefix = text.slice(0, -1);
    if (!prefix.startsWith('agent://')) return null;
    const rest = prefix.slice('agent://'.length);
    if (!PREFIX_BODY.test(rest) || rest.startsWith('/') || rest.includes('//')) return null;
    return text;
  }
  return parseAgentAddress(text)?.canonical ?? null;
}

/** Whether a (normalized) pattern matches a canonical sender address. */
export function senderPatternMatches(pattern: string, address: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return address.startsWith(pattern.slice(0, -1));
  return pattern === address;
}

const policyBody = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `must be one of ${values.join(', ')}` });

export const orgReceivePolicySchema = z.object({ policy_type: policyBody(ORG_RECEIVE_POLICY_TYPES) });
export const agentReceiveOverrideSchema = z.object({
  override_type: policyBody(AGENT_RECEIVE_OVERRIDE_TYPES),
});
export const agentSendPolicySchema = z.object({ policy_type: policyBody(AGENT_SEND_POLICY_TYPES) });

/** `POST …/entries`: a sender pattern, its decision and, for escalate, who approves. */
export const policyEntrySchema = z
  .object({
    sender_pattern: z
      .string()
      .min(1)
      .max(SENDER_PATTERN_MAX_LENGTH)
      .refine((v) => normalizeSenderPattern(v) !== null, {
        message: 'must be an agent address, a prefix ending in * (agent://org/*) or *',
        params: { code: 'invalid_sender_pattern' },
      }),
    decision: policyBody(POLICY_DECISIONS).optional(),
    approver: agentAddressSchema.nullable().optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.approver && entry.decision !== 'escalate')
      ctx.addIssue({
        code: 'custom',
        path: ['approver'],
        message: 'an approver is only for decision escalate',
      });
  });
export type PolicyEntryRequest = z.infer<typeof policyEntrySchema>;

/**
 * The approval an intent waits for, read from its stored policy decision (`Intent.policyDecision`):
 * null unless a policy escalated it.
 */
export function policyApprovalOf(
  policyDecision: Record<string, unknown> | null | undefined,
): { approver: string; rule: Record<string, unknown> | null } | null {
  if (!policyDecision || policyDecision.decision !== 'escalate') return null;
  const approver = policyDecision.approver;
  if (typeof approver !== 'string') return null;
  const rule = policyDecision.rule;
  return {
    approver,
    rule: rule && typeof rule === 'object' && !Array.isArray(rule) ? (rule as Record<string, unknown>) : null,
  };
}
