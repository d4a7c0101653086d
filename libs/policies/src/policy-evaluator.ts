// The decision of one send (SPEC §2 "Policies"; reference §4 "cross-org order"), as a pure function
// of what the recipient's org stores. docs/policies.md restates these rules with examples.
//
// 1. Receive stage, only across orgs: the recipient agent's receive override decides unless it is
//    use_org_default; then the org's receive policy (default closed). Within an org it allows.
// 2. Send stage, for every sender (same org too): the recipient agent's send policy.
// A policy type decides with its entries: they are tried in position order and the first whose
// pattern matches the sender decides (allow, deny or escalate). With no match: open → allow,
// allowlist → deny, denylist → allow. `closed` denies without looking at entries.
// A deny in either stage wins; otherwise an escalate (the receive stage's first); otherwise allow.
import { type PolicyEntryRecord, type RecipientPolicies } from '@axle/data';
import {
  POLICY_DENY_CODES,
  type PolicyDecisionKind,
  type PolicyEntryKind,
  senderPatternMatches,
} from '@axle/protocol';

/** The entry that decided, as the wire and the audit show it. */
export type PolicyRuleView = {
  entry_id: string;
  kind: PolicyEntryKind;
  sender_pattern: string;
  decision: PolicyDecisionKind;
  approver: string | null;
};

export type PolicyVerdict = {
  decision: PolicyDecisionKind;
  /** `allowed`, `escalated`, or the 403 code of a deny. */
  code: string;
  message: string;
  /** The entry that decided, when one did. */
  rule: PolicyRuleView | null;
  /** The policy that decided: its list and type (null when nothing applied: intra-org, unknown org). */
  policy: { kind: PolicyEntryKind; type: string } | null;
  /** Who approves an escalated send: the rule's approver, else the recipient agent. */
  approver: string | null;
  sender: string;
  recipient: string;
  crossOrg: boolean;
  /** The recipient's org, when it exists. */
  recipientOrgId: string | null;
  recipientRegistered: boolean;
};

type Stage = {
  decision: PolicyDecisionKind;
  code: string;
  rule: PolicyEntryRecord | null;
  policy: { kind: PolicyEntryKind; type: string };
};

/**
 * The verdict for `sender` → `recipient` (canonical addresses). `policies` is null when the
 * recipient's org does not exist: nobody there holds a policy or a credential, and the send is
 * allowed as open addressing allows it (strict addressing answers 404 later).
 */
export function evaluatePolicies(
  sender: { address: string; orgId: string },
  recipient: string,
  policies: RecipientPolicies | null,
): PolicyVerdict {
  const base = {
    sender: sender.address,
    recipient,
    recipientOrgId: policies?.org.id ?? null,
    recipientRegistered: policies?.agent != null,
  };
  if (!policies)
    return {
      ...base,
      decision: 'allow',
      code: 'allowed',
      message: 'the recipient organization is not known here',
      rule: null,
      policy: null,
      approver: null,
      crossOrg: true,
    };
  const crossOrg = policies.org.id !== sender.orgId;
  const stages: Stage[] = [];
  if (crossOrg) {
    const override = policies.agent?.receiveOverride ?? 'use_org_default';
    stages.push(
      override === 'use_org_default'
        ? decideList('org_receive', policies.org.receivePolicy, policies.entries.org_receive, sender.address)
        : decideList('agent_receive', override, policies.entries.agent_receive, sender.address),
    );
  }
  if (policies.agent)
    stages.push(
      decideList('agent_send', policies.agent.sendPolicy, policies.entries.agent_send, sender.address),
    );

  const deciding =
    stages.find((s) => s.decision === 'deny') ??
    stages.find((s) => s.decision === 'escalate') ??
    stages.find((s) => s.rule !== null) ??
    stages[0] ??
    null;
  const decision = deciding?.decision ?? 'allow';
  const rule = deciding?.rule ? ruleView(deciding.rule) : null;
  return {
    ...base,
    decision,
    code: deciding?.code ?? 'allowed',
    message: message(deciding, sender.address, recipient, policies.org.slug),
    rule,
    policy: deciding?.policy ?? null,
    approver: decision === 'escalate' ? (rule?.approver ?? recipient) : null,
    crossOrg,
  };
}

/** One policy type with its entries: first matching entry decides, else the type's default. */
function decideList(
  kind: PolicyEntryKind,
  type: string,
  entries: PolicyEntryRecord[],
  sender: string,
): Stage {
  const policy = { kind, type };
  if (type === 'closed')
    return {
      decision: 'deny',
      code: kind === 'org_receive' ? POLICY_DENY_CODES.orgClosed : POLICY_DENY_CODES.agentClosed,
      rule: null,
      policy,
    };
  const match = entries.find((e) => senderPatternMatches(e.pattern, sender)) ?? null;
  if (match)
    return {
      decision: match.decision,
      code:
        match.decision === 'allow'
          ? 'allowed'
          : match.decision === 'escalate'
            ? 'escalated'
            : POLICY_DENY_CODES.denied,
      rule: match,
      policy,
    };
  if (type === 'open' || type === 'denylist')
    return { decision: 'allow', code: 'allowed', rule: null, policy };
  if (type === 'allowlist')
    return {
      decision: 'deny',
      code: kind === 'agent_send' ? POLICY_DENY_CODES.denied : POLICY_DENY_CODES.notInReceiveAllowlist,
      rule: null,
      policy,
    };
  // A type this code does not know (a row written by a newer version): fail closed.
  return { decision: 'deny', code: POLICY_DENY_CODES.denied, rule: null, policy };
}

function ruleView(entry: PolicyEntryRecord): PolicyRuleView {
  return {
    entry_id: entry.id,
    kind: entry.kind,
    sender_pattern: entry.pattern,
    decision: entry.decision,
    approver: entry.approver,
  };
}

function message(stage: Stage | null, sender: string, recipient: string, orgSlug: string): string {
  if (!stage || stage.decision === 'allow') return `${sender} may send to ${recipient}`;
  if (stage.decision === 'escalate') return `intents from ${sender} to ${recipient} need an approval`;
  switch (stage.code) {
    case POLICY_DENY_CODES.orgClosed:
      return `organization ${orgSlug} does not accept intents from other organizations`;
    case POLICY_DENY_CODES.agentClosed:
      return `${recipient} does not accept intents from other organizations`;
    case POLICY_DENY_CODES.notInReceiveAllowlist:
      return `${sender} is not in the receive allowlist of ${stage.policy.kind === 'org_receive' ? `organization ${orgSlug}` : recipient}`;
    default:
      return `a policy of ${recipient} denies intents from ${sender}`;
  }
}
