// Every recorded history in test/histories/ must replay against today's workflow code: a change
// that breaks determinism for intents already running fails here, not in production.
import { WORKFLOWS_PATH } from '@axle/orchestration';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const dir = join('test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('workflow replay', () => {
  test('there are recorded histories to replay', () =>
    assert.ok(files.length >= 2, `no histories in ${dir}`));

  test('a history that no longer matches the code is caught (the check can fail)', async () => {
    // The recorded run scheduled `recordEvent`; a history claiming another activity must not replay.
    const tampered = readFileSync(join(dir, files[0]!), 'utf8').replaceAll(
      '"recordEvent"',
      '"recordSomethingElse"',
    );
    await assert.rejects(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, JSON.parse(tampered), 'tampered'),
      DeterminismViolationError,
    );
  });

  for (const file of files) {
    test(`replays ${file}`, async () => {
      const history: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, file);
    });
  }
});
