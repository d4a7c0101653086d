// ExecLogStore against real Redis: raw bytes round-trip exactly (every byte value, a MiB entry),
// appendMany is one ordered batch and Redis still refuses a seq that does not grow, entries written
// base64 by an earlier version are still read, XREAD BLOCK answers at once when entries exist, and
// the attach frames of raw entries are text for UTF-8 and base64 otherwise.
import { ExecLogStore, LogAppender, toFrame } from '@axle/exec';
import { execLogStreamKey } from '@axle/protocol';
import { requireEnv } from '@axle/testing';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';

describe('ExecLogStore (real Redis)', () => {
  const redis = new Redis(requireEnv('REDIS_URL'));
  const blocking = new Redis(requireEnv('REDIS_URL'));
  const store = new ExecLogStore(redis);
  const jobs: string[] = [];
  const newJob = () => {
    const id = randomUUID();
    jobs.push(id);
    return id;
  };
  after(async () => {
    if (jobs.length) await redis.del(...jobs.map(execLogStreamKey));
    await redis.quit();
    await blocking.quit();
  });

  test('raw bytes round-trip exactly: every byte value and a 1 MiB entry', async () => {
    const job = newJob();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const big = randomBytes(1024 * 1024);
    await store.appendMany(job, [
      { seq: 1, stream: 'stdout', data: all },
      { seq: 2, stream: 'stderr', data: big },
      { seq: 3, stream: 'stdout', data: Buffer.alloc(0) },
    ]);
    const entries = await store.readAfter(job, 0, 10);
    assert.deepEqual(
      entries.map((e) => [e.seq, e.stream, e.data.length]),
      [
        [1, 'stdout', 256],
        [2, 'stderr', big.length],
        [3, 'stdout', 0],
      ],
    );
    assert.ok(entries[0]!.data.equals(all));
    assert.ok(entries[1]!.data.equals(big));
    assert.equal(await store.lastSeq(job), 3);
    // Stored as is, not base64: the stream holds about the bytes themselves.
    const [[, fields]] = (await redis.xrangeBuffer(execLogStreamKey(job), '2-0', '2-0')) as [
      [Buffer, Buffer[]],
    ];
    assert.deepEqual(
      fields.filter((_, i) => i % 2 === 0).map((f) => f.toString()),
      ['seq', 'stream', 'data'],
    );
    assert.equal(fields[5]!.length, big.length);
  });

  test('appendMany keeps order; a seq that does not grow is refused by Redis', async () => {
    const job = newJob();
    await store.appendMany(job, [
      { seq: 1, stream: 'stdout', data: Buffer.from('a') },
      { seq: 2, stream: 'stdout', data: Buffer.from('b') },
    ]);
    await assert.rejects(
      store.appendMany(job, [
        { seq: 3, stream: 'stdout', data: Buffer.from('c') },
        { seq: 3, stream: 'stdout', data: Buffer.from('again') },
      ]),
      /equal or smaller/,
    );
    await assert.rejects(store.append(job, 2, 'stdout', Buffer.from('old')), /equal or smaller/);
    const entries = await store.readAfter(job, 1, 10);
    assert.deepEqual(
      entries.map((e) => [e.seq, e.data.toString()]),
      [
        [2, 'b'],
        [3, 'c'],
      ],
    );
  });

  test('entries written base64 (data_b64) by an earlier version are still read', async () => {
    const job = newJob();
    const bytes = Buffer.from([0xff, 0x00, 0x41, 0xe2, 0x82]);
    await redis.xadd(
      execLogStreamKey(job),
      '1-0',
      'seq',
      '1',
      'stream',
      'stderr',
      'data_b64',
      bytes.toString('base64'),
    );
    await store.append(job, 2, 'stdout', Buffer.from('new'));
    const entries = await store.readAfter(job, 0, 10);
    assert.equal(entries[0]!.stream, 'stderr');
    assert.ok(entries[0]!.data.equals(bytes));
    assert.equal(entries[1]!.data.toString(), 'new');
  });

  test('follow answers at once when entries exist after the cursor, else waits for the next', async () => {
    const job = newJob();
    await store.append(job, 1, 'stdout', Buffer.from('one'));
    const now = await ExecLogStore.follow(blocking, job, 0, 16, 10_000);
    assert.deepEqual(
      now.map((e) => e.seq),
      [1],
    );
    const later = ExecLogStore.follow(blocking, job, 1, 16, 10_000);
    await store.append(job, 2, 'stdout', Buffer.from('two'));
    assert.deepEqual(
      (await later).map((e) => e.data.toString()),
      ['two'],
    );
    assert.deepEqual(await ExecLogStore.follow(blocking, job, 2, 16, 50), []);
  });

  test('a LogAppender over the real store: 8 MiB in odd chunks arrive exact, in 1 MiB entries at most', async () => {
    const job = newJob();
    const hash = createHash('sha256');
    const logs = new LogAppender({
      write: (entries) => store.appendMany(job, entries),
      seq: 0,
      bytes: 0,
      maxBytes: 64 * 1024 * 1024,
      onOverflow: () => assert.fail('no overflow'),
    });
    let total = 0;
    while (total < 8 * 1024 * 1024) {
      const chunk = randomBytes(1 + Math.floor(Math.random() * 70_000));
      hash.update(chunk);
      total += chunk.length;
      if (!logs.push('stdout', chunk)) await logs.drained();
    }
    await logs.flushed();
    const read = createHash('sha256');
    let cursor = 0;
    let count = 0;
    let size = 0;
    for (;;) {
      const entries = await store.readAfter(job, cursor, 16);
      if (entries.length === 0) break;
      for (const e of entries) {
        assert.equal(e.seq, cursor + 1, 'seqs grow by one');
        assert.ok(e.data.length <= 1024 * 1024);
        read.update(e.data);
        size += e.data.length;
        cursor = e.seq;
        count++;
      }
    }
    assert.equal(size, total);
    assert.equal(read.digest('hex'), hash.digest('hex'));
    assert.equal(logs.seq, count);
    assert.equal(logs.storedBytes, total);
  });

  test('frames of raw entries: ASCII and UTF-8 as text, other bytes as base64, exit as exit', () => {
    const ascii = toFrame({ seq: 1, stream: 'stdout', data: Buffer.from('plain "quoted"\n') });
    assert.deepEqual(ascii, {
      id: 1,
      event: 'log',
      data: { seq: 1, stream: 'stdout', data: 'plain "quoted"\n' },
      ascii: true,
    });
    const utf8 = toFrame({ seq: 2, stream: 'stderr', data: Buffer.from('héllo €😀') });
    assert.deepEqual(utf8, {
      id: 2,
      event: 'log',
      data: { seq: 2, stream: 'stderr', data: 'héllo €😀' },
      ascii: false,
    });
    // A chunk that ends inside a character, and bytes that are no UTF-8 at all.
    for (const bytes of [Buffer.from('€').subarray(0, 2), Buffer.from([0xff, 0xfe, 0x41])]) {
      const f = toFrame({ seq: 3, stream: 'stdout', data: bytes });
      assert.deepEqual(f, {
        id: 3,
        event: 'log',
        data: { seq: 3, stream: 'stdout', data_b64: bytes.toString('base64') },
        ascii: true,
      });
    }
    const exit = toFrame({
      seq: 4,
      stream: 'exit',
      data: Buffer.from(
        JSON.stringify({ seq: 4, status: 'exited', exit_code: 0, signal: null, error: null }),
      ),
    });
    assert.deepEqual(exit, {
      id: 4,
      event: 'exit',
      data: { seq: 4, status: 'exited', exit_code: 0, signal: null, error: null },
    });
  });
});
