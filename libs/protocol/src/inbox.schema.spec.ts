import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  approvalDecisionSchema,
  inboxChangesQuerySchema,
  inboxDeleteMessagesSchema,
  inboxListQuerySchema,
  inboxReplySchema,
} from './inbox.schema';

function paths(result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }): string[] {
  return [...new Set((result.error?.issues ?? []).map((i) => i.path.map(String).join('.')))].sort();
}

describe('inbox query schemas', () => {
  test('cursors are decimal change sequences within bigint range; anything else is a field error', () => {
    for (const cursor of ['0', '42', '00000000000000000042', '9223372036854775807'])
      assert.equal(inboxChangesQuerySchema.safeParse({ cursor }).success, true, cursor);
    for (const cursor of ['', 'abc', '-1', '1.5', ' 1', '9223372036854775808', '123456789012345678901'])
      assert.deepEqual(paths(inboxChangesQuerySchema.safeParse({ cursor })), ['cursor'], cursor);
  });

  test('limits come from the query string and are bounded', () => {
    assert.equal(inboxChangesQuerySchema.parse({}).limit, 50);
    assert.equal(inboxListQuerySchema.parse({ limit: '200' }).limit, 200);
    for (const limit of ['0', '201', 'x', '1.5'])
      assert.deepEqual(paths(inboxListQuerySchema.safeParse({ limit })), ['limit'], limit);
    assert.deepEqual(paths(inboxListQuerySchema.safeParse({ status: 'open' })), ['status']);
  });
});

describe('inbox body schemas', () => {
  test('a reply is non-blank text up to 10000 characters or a non-empty object', () => {
    assert.equal(inboxReplySchema.safeParse({ message: 'x'.repeat(10_000) }).success, true);
    assert.equal(inboxReplySchema.safeParse({ message: { text: 'hi' } }).success, true);
    for (const message of ['', '   ', 'x'.repeat(10_001), 5, null, {}, ['a']])
      assert.deepEqual(paths(inboxReplySchema.safeParse({ message })), ['message'], JSON.stringify(message));
  });

  test('messages delete needs a mode; ids are uuids, 1 to 100 of them', () => {
    assert.equal(inboxDeleteMessagesSchema.safeParse({ mode: 'both' }).success, true);
    assert.deepEqual(paths(inboxDeleteMessagesSchema.safeParse({})), ['mode']);
    assert.deepEqual(paths(inboxDeleteMessagesSchema.safeParse({ mode: 'self', message_ids: [] })), [
      'message_ids',
    ]);
    assert.deepEqual(paths(inboxDeleteMessagesSchema.safeParse({ mode: 'self', message_ids: ['x'] })), [
      'message_ids.0',
    ]);
  });

  test('an approval decision is approve or reject', () => {
    assert.equal(approvalDecisionSchema.safeParse({ decision: 'reject', comment: null }).success, true);
    for (const decision of ['approved', 'yes', undefined])
      assert.deepEqual(paths(approvalDecisionSchema.safeParse({ decision })), ['decision']);
  });
});
