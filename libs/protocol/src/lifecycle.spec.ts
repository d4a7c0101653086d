import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canTransition, INTENT_STATUSES, type IntentStatus, isTerminal, STATUS_EVENT } from './lifecycle';

// The table restated from reference/axme-wire.md §3.2 (+ any non-terminal → TIMED_OUT, SPEC §3),
// independently of the implementation, so a change to either side shows up here.
const ALLOWED: Record<IntentStatus, IntentStatus[]> = {
  CREATED: ['SUBMITTED', 'TIMED_OUT'],
  SUBMITTED: ['DELIVERED', 'IN_PROGRESS', 'WAITING', 'FAILED', 'CANCELED', 'TIMED_OUT'],
  DELIVERED: ['ACKNOWLEDGED', 'IN_PROGRESS', 'WAITING', 'FAILED', 'CANCELED', 'TIMED_OUT'],
  ACKNOWLEDGED: ['IN_PROGRESS', 'WAITING', 'FAILED', 'CANCELED', 'TIMED_OUT'],
  IN_PROGRESS: ['WAITING', 'COMPLETED', 'FAILED', 'CANCELED', 'TIMED_OUT'],
  WAITING: ['IN_PROGRESS', 'FAILED', 'CANCELED', 'TIMED_OUT'],
  COMPLETED: [],
  FAILED: [],
  CANCELED: [],
  TIMED_OUT: [],
};

describe('intent lifecycle', () => {
  test('has exactly the ten wire statuses, CANCELED with one L', () => {
    assert.deepEqual([...INTENT_STATUSES].sort(), Object.keys(ALLOWED).sort());
    assert.ok(!(INTENT_STATUSES as readonly string[]).includes('CANCELLED'));
  });

  for (const from of INTENT_STATUSES) {
    for (const to of INTENT_STATUSES) {
      const expected = ALLOWED[from].includes(to);
      test(`${from} → ${to} is ${expected ? 'allowed' : 'refused'}`, () => {
        assert.equal(canTransition(from, to), expected);
      });
    }
  }

  test('terminal statuses are exactly COMPLETED, FAILED, CANCELED, TIMED_OUT', () => {
    assert.deepEqual(INTENT_STATUSES.filter(isTerminal), ['COMPLETED', 'FAILED', 'CANCELED', 'TIMED_OUT']);
  });

  test('every status has its entry event', () => {
    for (const status of INTENT_STATUSES) assert.match(STATUS_EVENT[status], /^intent\.[a-z_]+$/);
    assert.equal(STATUS_EVENT.TIMED_OUT, 'intent.timed_out');
  });
});

describe('the policy approval edge (SPEC §2 "Policies")', () => {
  test('WAITING → DELIVERED only for an intent held WAITING_FOR_APPROVAL', () => {
    assert.equal(canTransition('WAITING', 'DELIVERED', 'WAITING_FOR_APPROVAL'), true);
    for (const reason of [undefined, null, 'WAITING_FOR_HUMAN', 'WAITING_FOR_AGENT', 'WAITING_FOR_TIME'])
      assert.equal(canTransition('WAITING', 'DELIVERED', reason), false, String(reason));
  });

  test('the reason changes no other edge', () => {
    for (const from of INTENT_STATUSES)
      for (const to of INTENT_STATUSES) {
        if (from === 'WAITING' && to === 'DELIVERED') continue;
        assert.equal(
          canTransition(from, to, 'WAITING_FOR_APPROVAL'),
          canTransition(from, to),
          `${from} → ${to}`,
        );
      }
  });
});
