import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ReadCoalescer } from './read-coalescer';

describe('ReadCoalescer', () => {
  test('callers of one key in the same turn share one read', async () => {
    const coalescer = new ReadCoalescer<number>();
    let reads = 0;
    const fn = () => Promise.resolve(++reads);
    const results = await Promise.all([
      coalescer.read('a', fn),
      coalescer.read('a', fn),
      coalescer.read('a', fn),
    ]);
    assert.deepEqual(results, [1, 1, 1]);
    assert.equal(reads, 1);
  });

  test('different keys read separately', async () => {
    const coalescer = new ReadCoalescer<string>();
    const seen: string[] = [];
    const fn = (k: string) => () => {
      seen.push(k);
      return Promise.resolve(k);
    };
    assert.deepEqual(await Promise.all([coalescer.read('a', fn('a')), coalescer.read('b', fn('b'))]), [
      'a',
      'b',
    ]);
    assert.deepEqual(seen.sort(), ['a', 'b']);
  });

  test('a caller arriving after the read started gets a read of its own, which starts after it asked', async () => {
    const coalescer = new ReadCoalescer<number>();
    let value = 1;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = coalescer.read('a', async () => {
      const v = value;
      await gate;
      return v;
    });
    await new Promise((r) => setImmediate(r)); // the first read has started (and captured value 1)
    value = 2; // a newer write, whose wake-up makes a second caller read
    const second = coalescer.read('a', () => Promise.resolve(value));
    release();
    assert.equal(await first, 1);
    assert.equal(await second, 2);
  });

  test('a failed read rejects every caller that shared it, and the next read runs again', async () => {
    const coalescer = new ReadCoalescer<number>();
    const fail = () => Promise.reject(new Error('db down'));
    const results = await Promise.allSettled([coalescer.read('a', fail), coalescer.read('a', fail)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.equal(await coalescer.read('a', () => Promise.resolve(7)), 7);
  });
});
