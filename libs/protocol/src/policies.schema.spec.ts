import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  normalizeSenderPattern,
  policyApprovalOf,
  policyEntrySchema,
  SENDER_PATTERN_MAX_LENGTH,
  senderPatternMatches,
} from './policies.schema';

describe('sender patterns', () => {
  test('addresses are stored canonical; prefixes and * as given', () => {
    assert.equal(normalizeSenderPattern('agent://acme/bot'), 'agent://acme/default/bot');
    assert.equal(normalizeSenderPattern('acme/ops/bot'), 'agent://acme/ops/bot');
    assert.equal(normalizeSenderPattern('agent://acme/*'), 'agent://acme/*');
    assert.equal(normalizeSenderPattern('agent://acme/ops/bo*'), 'agent://acme/ops/bo*');
    assert.equal(normalizeSenderPattern('agent://*'), 'agent://*');
    assert.equal(normalizeSenderPattern('*'), '*');
  });

  test('anything else is refused', () => {
    for (const bad of [
      '',
      'acme',
      'agent://Acme/*',
      'agent://acme/*/bot',
      '**',
      'agent://acme/**',
      'acme/*',
      'agent:///*',
      'agent://acme//*',
      'agent://acme/ops bot/*',
      `agent://${'a'.repeat(SENDER_PATTERN_MAX_LENGTH)}*`,
    ])
      assert.equal(normalizeSenderPattern(bad), null, bad);
  });

  test('matching: exact, prefix, everything', () => {
    assert.ok(senderPatternMatches('agent://acme/default/bot', 'agent://acme/default/bot'));
    assert.ok(!senderPatternMatches('agent://acme/default/bot', 'agent://acme/default/bot2'));
    assert.ok(senderPatternMatches('agent://acme/*', 'agent://acme/ops/x'));
    assert.ok(!senderPatternMatches('agent://acme/*', 'agent://acme-evil/ops/x'));
    assert.ok(senderPatternMatches('*', 'agent://anyone/default/x'));
  });
});

describe('policyEntrySchema', () => {
  test('an approver only with escalate, and it must be an address', () => {
    assert.ok(
      policyEntrySchema.safeParse({ sender_pattern: '*', decision: 'escalate', approver: 'agent://a-b/c' })
        .success,
    );
    assert.ok(!policyEntrySchema.safeParse({ sender_pattern: '*', approver: 'agent://a-b/c' }).success);
    assert.ok(
      !policyEntrySchema.safeParse({ sender_pattern: '*', decision: 'escalate', approver: 'nope' }).success,
    );
    assert.ok(!policyEntrySchema.safeParse({ sender_pattern: '*', decision: 'maybe' }).success);
    assert.ok(!policyEntrySchema.safeParse({ sender_pattern: 7 }).success);
  });
});

describe('policyApprovalOf', () => {
  test('only an escalate decision with an approver is an approval', () => {
    assert.deepEqual(
      policyApprovalOf({ decision: 'escalate', approver: 'agent://a-b/c/d', rule: { entry_id: 'e' } }),
      {
        approver: 'agent://a-b/c/d',
        rule: { entry_id: 'e' },
      },
    );
    assert.equal(policyApprovalOf({ decision: 'allow', approver: 'agent://a-b/c/d' }), null);
    assert.equal(policyApprovalOf({ decision: 'escalate' }), null);
    assert.equal(policyApprovalOf(null), null);
  });
});
