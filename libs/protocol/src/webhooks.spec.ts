import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { webhookBackoffMs } from './webhook-delivery';
import { webhookEventSchema, webhookSubscriptionSchema } from './webhooks';

const policy = { maxAttempts: 5, backoffMs: 30_000, backoffMaxMs: 600_000 };

function paths(result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }): string[] {
  return (result.error?.issues ?? []).map((i) => i.path.map(String).join('.')).sort();
}

describe('webhook backoff', () => {
  test('doubles per attempt between half and all of the exponential step', () => {
    assert.equal(webhookBackoffMs(policy, 1, 0), 15_000);
    assert.equal(webhookBackoffMs(policy, 1, 0.999_999), 30_000);
    assert.equal(webhookBackoffMs(policy, 2, 0), 30_000);
    assert.equal(webhookBackoffMs(policy, 3, 0.5), 90_000);
  });

  test('is capped at backoffMaxMs however many attempts failed', () => {
    for (const attempt of [6, 10, 50, 1000]) {
      const delay = webhookBackoffMs(policy, attempt, 0.999_999);
      assert.ok(delay <= 600_000 && delay >= 300_000, `${attempt}: ${delay}`);
    }
  });

  test('never returns zero or a negative delay, even for nonsense input', () => {
    assert.equal(webhookBackoffMs({ maxAttempts: 1, backoffMs: 1, backoffMaxMs: 1 }, 0, -3), 1);
    assert.ok(webhookBackoffMs(policy, 2, 7) <= 60_000);
  });
});

describe('webhook request schemas', () => {
  const valid = { callback_url: 'https://hooks.example/axme', event_types: ['invite.accepted'] };

  test('a minimal subscription is valid and repeated event types collapse', () => {
    const parsed = webhookSubscriptionSchema.parse({
      ...valid,
      event_types: ['invite.accepted', 'invite.accepted', 'inbox.thread_created'],
      extra: 'dropped',
    });
    assert.deepEqual(parsed.event_types, ['invite.accepted', 'inbox.thread_created']);
    assert.ok(!('extra' in parsed));
  });

  test('each bad field is reported at its own path', () => {
    const result = webhookSubscriptionSchema.safeParse({
      callback_url: 'ftp://hooks.example/axme',
      event_types: ['invite.accepted', 'intent.created'],
      secret: 'short',
      active: 'yes',
      description: 'd'.repeat(501),
    });
    assert.deepEqual(paths(result), ['active', 'callback_url', 'description', 'event_types.1', 'secret']);
  });

  test('url limits: http(s) only, at most 2048 characters', () => {
    for (const callback_url of ['not a url', 'javascript:alert(1)', `https://a.example/${'x'.repeat(2048)}`])
      assert.deepEqual(paths(webhookSubscriptionSchema.safeParse({ ...valid, callback_url })), [
        'callback_url',
      ]);
    assert.ok(
      webhookSubscriptionSchema.safeParse({ ...valid, callback_url: 'http://127.0.0.1:9/x' }).success,
    );
  });

  test('an empty event list and a secret over 256 characters are refused', () => {
    assert.deepEqual(paths(webhookSubscriptionSchema.safeParse({ ...valid, event_types: [] })), [
      'event_types',
    ]);
    assert.deepEqual(paths(webhookSubscriptionSchema.safeParse({ ...valid, secret: 's'.repeat(257) })), [
      'secret',
    ]);
  });

  test('events need a known type, a 2-100 character source and an object payload', () => {
    assert.ok(
      webhookEventSchema.safeParse({ event_type: 'invite.accepted', source: 'cli', payload: {} }).success,
    );
    assert.deepEqual(
      paths(webhookEventSchema.safeParse({ event_type: 'invite.sent', source: 'x', payload: [] })),
      ['event_type', 'payload', 'source'],
    );
  });
});
