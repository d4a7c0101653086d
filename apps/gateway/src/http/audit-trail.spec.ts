import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { outcomeOf, targetOf } from './audit-trail';

describe('generic audit rows', () => {
  test('outcome by status: success below 400; denied for 401, 403, 429; failure otherwise', () => {
    assert.deepEqual([200, 204, 302, 400, 401, 403, 404, 409, 413, 422, 429, 500, 503].map(outcomeOf), [
      'success',
      'success',
      'success',
      'failure',
      'denied',
      'denied',
      'failure',
      'failure',
      'failure',
      'failure',
      'denied',
      'failure',
      'failure',
    ]);
  });

  test('target: the last path parameter, typed by the segment before it', () => {
    assert.deepEqual(targetOf('/v1/intents/:id/resume', { id: 'i-1' }), {
      targetType: 'intent',
      targetId: 'i-1',
    });
    assert.deepEqual(targetOf('/v1/inbox/:id/reply', { id: 't-1' }), {
      targetType: 'inbox_thread',
      targetId: 't-1',
    });
    assert.deepEqual(targetOf('/v1/webhooks/subscriptions/:id', { id: 's-1' }), {
      targetType: 'webhook_subscription',
      targetId: 's-1',
    });
    assert.deepEqual(targetOf('/v1/quotas/:id', { id: 'q-1' }), { targetType: 'quota', targetId: 'q-1' });
    assert.deepEqual(targetOf('/v1/agents/:org/:ws/:name/keys', { org: 'o', ws: 'w', name: 'n' }), {
      targetType: 'agent',
      targetId: 'n',
    });
    assert.deepEqual(targetOf('/v1/widgets/:id', { id: 'w-1' }), { targetType: 'widget', targetId: 'w-1' });
  });

  test('no route, no parameters, or an empty one: no target; long ids are cut', () => {
    assert.deepEqual(targetOf(undefined, {}), { targetType: null, targetId: null });
    assert.deepEqual(targetOf('/v1/intents', {}), { targetType: null, targetId: null });
    assert.deepEqual(targetOf('/v1/intents/:id', { id: '' }), { targetType: null, targetId: null });
    assert.equal(targetOf('/v1/intents/:id', { id: 'x'.repeat(500) }).targetId?.length, 200);
  });
});
