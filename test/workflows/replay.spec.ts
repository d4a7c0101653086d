// Every recorded history in test/histories/ must replay against today's workflow code: a change
// that breaks determinism for intents already running fails here, not in production. Each is
// replayed three times: against the workflows module, and against both prebuilt bundles a worker
// runs (dist/workflow-bundle.js with the OpenTelemetry workflow interceptors for tracing on,
// dist/workflow-bundle.untraced.js without), each with the trace-id header interceptor and the
// worker's tracing sink with tracing off: a worker may switch tracing on or off under running intents.
// `scheduled-bookkeeping-*` are intents recorded before events were recorded by local activities
// (patch `local-bookkeeping`), `local-bookkeeping-*` before the plan load delivered and back-to-back
// events went in one call (patch `batched-bookkeeping`): workflows of those ages must keep replaying.
import { createLogger } from '@axle/observability';
import {
  workflowBundlePath,
  workflowInterceptorModules,
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
const sinks = workerTracingOptions(undefined, createLogger({ level: 'silent', app: 'test' })).sinks;
const bundled = (traced: boolean) => ({ workflowBundle: { codePath: workflowBundlePath(traced) }, sinks });

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

  test('the prebuilt bundles carry their workflow interceptor modules', () => {
    assert.equal(workflowInterceptorModules(true).length, 2);
    assert.equal(workflowInterceptorModules(false).length, 1);
    const traced = readFileSync(workflowBundlePath(true), 'utf8');
    assert.match(traced, /OpenTelemetryInboundInterceptor/);
    assert.match(traced, /axle-trace-id/);
    const untraced = readFileSync(workflowBundlePath(false), 'utf8');
    assert.doesNotMatch(untraced, /OpenTelemetryInboundInterceptor/);
    assert.match(untraced, /axle-trace-id/);
  });

  test('a tampered history is caught by the prebuilt bundle too', async () => {
    await assert.rejects(
      Worker.runReplayHistory(bundled(false), tamperedHistory(), 'tampered-bundle'),
      DeterminismViolationError,
    );
  });

  for (const file of files)
    for (const traced of [true, false])
      test(`replays ${file} with the prebuilt ${traced ? 'traced' : 'untraced'} bundle`, async () => {
        const history: unknown = JSON.parse(readFileSync(join(dir, file), 'utf8'));
        await Worker.runReplayHistory(bundled(traced), history, `${file}-bundle`);
      });
});
