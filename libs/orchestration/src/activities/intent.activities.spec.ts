import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { killedRecheckDelayMs } from './intent.activities';

describe('http delivery held for a killed agent', () => {
  test('re-checks after 1 s, 2 s, 4 s … up to the configured ceiling', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => killedRecheckDelayMs(attempt, 30)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
    );
    assert.equal(killedRecheckDelayMs(1, 1), 1000);
    assert.equal(killedRecheckDelayMs(50, 1), 1000);
  });

  test('a huge attempt number does not overflow the ceiling', () => {
    assert.equal(killedRecheckDelayMs(10_000, 3600), 3_600_000);
  });
});
