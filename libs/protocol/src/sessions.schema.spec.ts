import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createSessionSchema,
  listSessionsQuerySchema,
  postSessionMessageSchema,
  sessionFeedQuerySchema,
} from './sessions.schema';

function paths(result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }): string[] {
  return [...new Set((result.error?.issues ?? []).map((i) => i.path.map(String).join('.')))].sort();
}

describe('session schemas', () => {
  test('roles are short lower-case tokens', () => {
    for (const role of ['user', 'assistant', 'system', 'tool', 'agent', 'code-reviewer', 'a'])
      assert.equal(postSessionMessageSchema.safeParse({ role, content: 'x' }).success, true, role);
    for (const role of ['', 'User', '1user', 'a b', 'x'.repeat(33), 7])
      assert.deepEqual(
        paths(postSessionMessageSchema.safeParse({ role, content: 'x' })),
        ['role'],
        String(role),
      );
  });

  test('content is any JSON value but null; content_type is a media type', () => {
    for (const content of ['', 'text', 0, false, [1], { a: 1 }])
      assert.equal(postSessionMessageSchema.safeParse({ role: 'user', content }).success, true);
    assert.deepEqual(paths(postSessionMessageSchema.safeParse({ role: 'user', content: null })), ['content']);
    assert.deepEqual(paths(postSessionMessageSchema.safeParse({ role: 'user' })), ['content']);
    for (const contentType of ['text/plain', 'application/vnd.axle+json'])
      assert.equal(
        postSessionMessageSchema.safeParse({ role: 'user', content: 'x', content_type: contentType }).success,
        true,
      );
    for (const contentType of ['plain', 'text/', '', 'a b/c'])
      assert.deepEqual(
        paths(postSessionMessageSchema.safeParse({ role: 'user', content: 'x', content_type: contentType })),
        ['content_type'],
      );
  });

  test('create: type required; parent is a uuid; unknown fields are dropped', () => {
    const parsed = createSessionSchema.parse({ type: 'coding', extra: 1 });
    assert.deepEqual(parsed, { type: 'coding' });
    assert.deepEqual(paths(createSessionSchema.safeParse({})), ['type']);
    assert.deepEqual(
      paths(createSessionSchema.safeParse({ type: 'a b', parent_session_id: 'x', depends_on: [''] })),
      ['depends_on.0', 'parent_session_id', 'type'],
    );
  });

  test('queries: status in any case, bounded limits, since ≥ 0', () => {
    assert.equal(listSessionsQuerySchema.parse({ status: 'completed' }).status, 'COMPLETED');
    assert.deepEqual(paths(listSessionsQuerySchema.safeParse({ status: 'DONE' })), ['status']);
    assert.deepEqual(paths(listSessionsQuerySchema.safeParse({ limit: '201' })), ['limit']);
    assert.deepEqual(sessionFeedQuerySchema.parse({}), { since: 0, limit: 100 });
    assert.deepEqual(paths(sessionFeedQuerySchema.safeParse({ since: '-1' })), ['since']);
  });
});
