import { type PolicyEntryRecord, type RecipientPolicies } from '@axle/data';
import { type PolicyDecisionKind, type PolicyEntryKind } from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluatePolicies } from './policy-evaluator';

const ACME = '00000000-0000-4000-8000-00000000000a';
const PARTNER = '00000000-0000-4000-8000-00000000000b';
const RECIPIENT = 'agent://acme/default/billing';
const outsider = { address: 'agent://partner/default/bot', orgId: PARTNER };
const insider = { address: 'agent://acme/default/ops', orgId: ACME };

let position = 0;
function entry(
  kind: PolicyEntryKind,
  pattern: string,
  decision: PolicyDecisionKind = 'allow',
  approver: string | null = null,
): PolicyEntryRecord {
  position += 1;
  return {
    id: `e-${position}`,
    orgId: ACME,
    kind,
    owner: kind === 'org_receive' ? ACME : RECIPIENT,
    pattern,
    decision,
    approver,
    position,
    createdBy: null,
    createdAt: new Date(0),
  };
}

function policies(
  options: {
    org?: string;
    agent?: { send?: string; override?: string } | null;
    entries?: PolicyEntryRecord[];
  } = {},
): RecipientPolicies {
  const entries: RecipientPolicies['entries'] = { org_receive: [], agent_receive: [], agent_send: [] };
  for (const e of options.entries ?? []) entries[e.kind].push(e);
  return {
    org: { id: ACME, slug: 'acme', receivePolicy: options.org ?? 'closed' },
    agent:
      options.agent === null
        ? null
        : {
            id: 'sa',
            orgId: ACME,
            address: RECIPIENT,
            sendPolicy: options.agent?.send ?? 'open',
            receiveOverride: options.agent?.override ?? 'use_org_default',
          },
    entries,
  };
}

const decide = (sender: { address: string; orgId: string }, p: RecipientPolicies | null) =>
  evaluatePolicies(sender, RECIPIENT, p);

describe('evaluatePolicies', () => {
  test('within an org the receive stage allows, and no policy took part', () => {
    const v = decide(insider, policies());
    assert.equal(v.decision, 'allow');
    assert.equal(v.crossOrg, false);
    assert.equal(v.rule, null);
    assert.equal(v.policy?.kind, 'agent_send');
  });

  test('across orgs the org default is closed: receiver_org_closed', () => {
    const v = decide(outsider, policies());
    assert.deepEqual([v.decision, v.code, v.crossOrg], ['deny', 'receiver_org_closed', true]);
    assert.deepEqual(v.policy, { kind: 'org_receive', type: 'closed' });
  });

  test('closed ignores entries; open allows; allowlist needs a matching entry', () => {
    const e = entry('org_receive', 'agent://partner/*');
    assert.equal(decide(outsider, policies({ org: 'closed', entries: [e] })).code, 'receiver_org_closed');
    assert.equal(decide(outsider, policies({ org: 'open' })).decision, 'allow');
    const allowed = decide(outsider, policies({ org: 'allowlist', entries: [e] }));
    assert.equal(allowed.decision, 'allow');
    assert.equal(allowed.rule?.entry_id, e.id);
    const other = decide(
      { address: 'agent://stranger/default/x', orgId: 'x' },
      policies({ org: 'allowlist', entries: [e] }),
    );
    assert.deepEqual([other.decision, other.code], ['deny', 'sender_not_in_receive_allowlist']);
  });

  test('exact patterns, prefixes and * match as documented', () => {
    const exact = entry('org_receive', 'agent://partner/default/bot');
    assert.equal(decide(outsider, policies({ org: 'allowlist', entries: [exact] })).decision, 'allow');
    const near = { address: 'agent://partner/default/bot2', orgId: PARTNER };
    assert.equal(decide(near, policies({ org: 'allowlist', entries: [exact] })).decision, 'deny');
    const any = entry('org_receive', '*');
    assert.equal(decide(near, policies({ org: 'allowlist', entries: [any] })).decision, 'allow');
    const ws = entry('org_receive', 'agent://partner/other/*');
    assert.equal(decide(outsider, policies({ org: 'allowlist', entries: [ws] })).decision, 'deny');
  });

  test('entries are tried in position order; the first match decides', () => {
    const deny = entry('org_receive', 'agent://partner/default/bot', 'deny');
    const allow = entry('org_receive', 'agent://partner/*');
    const v = decide(outsider, policies({ org: 'allowlist', entries: [deny, allow] }));
    assert.deepEqual([v.decision, v.code, v.rule?.entry_id], ['deny', 'policy_denied', deny.id]);
    const reversed = decide(outsider, policies({ org: 'allowlist', entries: [allow, deny] }));
    assert.equal(reversed.decision, 'allow');
  });

  test('an open policy with an escalate entry escalates to the rule approver or the recipient', () => {
    const esc = entry('org_receive', 'agent://partner/*', 'escalate', 'agent://acme/default/lead');
    const v = decide(outsider, policies({ org: 'open', entries: [esc] }));
    assert.deepEqual(
      [v.decision, v.code, v.approver],
      ['escalate', 'escalated', 'agent://acme/default/lead'],
    );
    const plain = entry('org_receive', 'agent://partner/default/*', 'escalate');
    assert.equal(decide(outsider, policies({ org: 'open', entries: [plain] })).approver, RECIPIENT);
  });

  test('the agent override decides before the org policy, unless use_org_default', () => {
    const orgAllow = entry('org_receive', '*');
    const open = decide(outsider, policies({ org: 'closed', agent: { override: 'open' } }));
    assert.equal(open.decision, 'allow');
    assert.deepEqual(open.policy, { kind: 'agent_receive', type: 'open' });
    const closed = decide(
      outsider,
      policies({ org: 'allowlist', agent: { override: 'closed' }, entries: [orgAllow] }),
    );
    assert.deepEqual([closed.decision, closed.code], ['deny', 'receiver_agent_closed']);
    const list = entry('agent_receive', 'agent://partner/default/bot');
    assert.equal(
      decide(outsider, policies({ agent: { override: 'allowlist' }, entries: [list] })).decision,
      'allow',
    );
    const missing = decide(outsider, policies({ org: 'open', agent: { override: 'allowlist' } }));
    assert.deepEqual([missing.decision, missing.code], ['deny', 'sender_not_in_receive_allowlist']);
  });

  test('the send policy applies to every sender, the same org too', () => {
    const deny = entry('agent_send', 'agent://acme/default/ops', 'deny');
    const v = decide(insider, policies({ agent: { send: 'denylist' }, entries: [deny] }));
    assert.deepEqual([v.decision, v.code], ['deny', 'policy_denied']);
    assert.equal(decide(insider, policies({ agent: { send: 'denylist' } })).decision, 'allow');
    const allowlist = decide(insider, policies({ agent: { send: 'allowlist' } }));
    assert.deepEqual([allowlist.decision, allowlist.code], ['deny', 'policy_denied']);
    const listed = entry('agent_send', 'agent://acme/*');
    assert.equal(
      decide(insider, policies({ agent: { send: 'allowlist' }, entries: [listed] })).rule?.entry_id,
      listed.id,
    );
  });

  test('a deny in either stage wins over an escalate; an escalate over an allow', () => {
    const esc = entry('org_receive', '*', 'escalate');
    const sendDeny = entry('agent_send', 'agent://partner/*', 'deny');
    const both = decide(
      outsider,
      policies({ org: 'open', agent: { send: 'open' }, entries: [esc, sendDeny] }),
    );
    assert.deepEqual([both.decision, both.policy?.kind], ['deny', 'agent_send']);
    const sendEsc = entry('agent_send', 'agent://partner/*', 'escalate');
    const escalated = decide(outsider, policies({ org: 'open', entries: [sendEsc] }));
    assert.deepEqual([escalated.decision, escalated.policy?.kind], ['escalate', 'agent_send']);
  });

  test('an unregistered recipient follows its org policy and has no send policy', () => {
    const v = decide(outsider, policies({ org: 'closed', agent: null }));
    assert.deepEqual([v.decision, v.code, v.recipientRegistered], ['deny', 'receiver_org_closed', false]);
    assert.equal(decide(insider, policies({ agent: null })).decision, 'allow');
  });

  test('an unknown org allows (open addressing holds it) and counts as cross-org', () => {
    const v = decide(outsider, null);
    assert.deepEqual([v.decision, v.crossOrg, v.recipientOrgId], ['allow', true, null]);
  });

  test('a policy type this code does not know fails closed', () => {
    const v = decide(insider, policies({ agent: { send: 'something-new' } }));
    assert.deepEqual([v.decision, v.code], ['deny', 'policy_denied']);
  });
});
