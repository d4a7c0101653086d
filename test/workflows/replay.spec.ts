// Every recorded history in test/histories/ must replay against today's workflow code: a change
// that breaks determinism for intents already running fails here, not in production. Each is
// replayed twice: against the workflows module, and against the prebuilt dist/workflow-bundle.js
// the worker runs, which also carries the workflow interceptor modules (OpenTelemetry spans, the
// trace-id header for activities) and gets the worker's tracing sink with tracing off.
// `scheduled-bookkeeping-*` are intents recorded before events were recorded by local activities
// (patch `local-bookkeeping`): workflows of that age must keep replaying.
import { createLogger } from '@axle/observability';
import {
  WORKFLOW_BUNDLE_PATH,
  WORKFLOW_INTERCEPTOR_MODULES,
  WORKFLOWS_PATH,
  workerTracingOptions,
} from '@axle/orchestration';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const dir = join('test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const production = {
  workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH },
  sinks: workerTracingOptions(undefined, createLogger({ level: 'silent', app: 'test' })).sinks,
};

/**
 * A run from before local bookkeeping, which scheduled `recordEvent` as an activity, now claiming
 * another activity: it must not replay.
 */
function tamperedHistory(): unknown {
  const scheduled = files.find((f) => f.startsWith('scheduled-bookkeeping-'))!;
  return JSON.parse(
    readFileSync(join(dir, scheduled), 'utf8').replaceAll('"recordEvent"', '"recordSomethingElse"'),
  );
}

describe('workflow replay', () => {
  test('there are recorded histories to replay', () =>
    assert.ok(files.length >= 2, `no histories in ${dir}`));

  test('a history that no longer matches the code is caught (the check can fail)', async () => {
    await assert.rejects(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, tamperedHistory(), 'tampered'),
      DeterminismViolationError,
    );
  });

  for (const file of files) {
    test(`replays ${file}`, async () => {
      const history: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, file);
    });
  }

  test('the prebuilt bundle carries the workflow interceptor modules', () => {
    const bundle = readFileSync(WORKFLOW_BUNDLE_PATH, 'utf8');
    assert.equal(WORKFLOW_INTERCEPTOR_MODULES.length, 2);
    assert.match(bundle, /OpenTelemetryInboundInterceptor/);
    assert.match(bundle, /axle-trace-id/);
  });

  test('a tampered history is caught by the prebuilt bundle too', async () => {
    await assert.rejects(
      Worker.runReplayHistory(production, tamperedHistory(), 'tampered-bundle'),
      DeterminismViolationError,
    );
  });

  for (const file of files) {
    test(`replays ${file} with the prebuilt bundle and its interceptors`, async () => {
      const history: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      await Worker.runReplayHistory(production, history, `${file}-bundle`);
    });
  }
});
