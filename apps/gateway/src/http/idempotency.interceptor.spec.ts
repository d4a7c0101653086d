import { DependencyUnavailableError } from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retryFinish } from './idempotency.interceptor';

type Outcome = { ok: boolean; attempts: number; err?: string };

function run(attempt: () => Promise<void>, giveUpAfterMs: number): Promise<Outcome> {
  // retryFinish's timers are unref'd (they must not hold a draining gateway open): keep this alive.
  const alive = setInterval(() => undefined, 1000);
  return new Promise<Outcome>((resolve) =>
    retryFinish(attempt, { giveUpAfterMs, delayMs: () => 5 }, resolve),
  ).finally(() => clearInterval(alive));
}

describe('idempotency record written after a database outage', () => {
  test('a completion or release that failed is tried again until it lands', async () => {
    let calls = 0;
    const outcome = await run(() => {
      calls++;
      return calls < 3 ? Promise.reject(new DependencyUnavailableError('postgres')) : Promise.resolve();
    }, 60_000);
    assert.deepEqual(outcome, { ok: true, attempts: 3 });
    assert.equal(calls, 3);
  });

  test('gives up once the claim would count as abandoned anyway', async () => {
    let calls = 0;
    const outcome = await run(async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new DependencyUnavailableError('postgres');
    }, 50);
    assert.equal(outcome.ok, false);
    assert.match(outcome.err ?? '', /postgres is unavailable/);
    assert.equal(outcome.attempts, calls);
    assert.ok(calls >= 1);
  });
});
