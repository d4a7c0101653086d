// LogAppender (docs/exec.md "Logs and attach"): chunks arriving while a write is in flight are
// coalesced into entries of one stream up to the entry size; seqs grow by one per entry in arrival
// order; bytes are exact; the output cap stores exactly the bytes up to it; backpressure; failures.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LogAppender, type LogAppenderOptions, type LogEntryToWrite } from './log-appender';

type Stream = LogEntryToWrite['stream'];

/** A writer whose writes complete only when the test says so. */
function manualWriter() {
  const batches: LogEntryToWrite[][] = [];
  const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  return {
    batches,
    write: (entries: readonly LogEntryToWrite[]) =>
      new Promise<void>((resolve, reject) => {
        batches.push(entries.map((e) => ({ ...e, data: Buffer.from(e.data) })));
        pending.push({ resolve, reject });
      }),
    inFlight: () => pending.length,
    /** Completes the oldest write and lets its continuations run. */
    async complete(): Promise<void> {
      pending.shift()?.resolve();
      await new Promise((r) => setImmediate(r));
    },
    async fail(err: Error): Promise<void> {
      pending.shift()?.reject(err);
      await new Promise((r) => setImmediate(r));
    },
  };
}

function appender(write: LogAppenderOptions['write'], options: Partial<LogAppenderOptions> = {}) {
  let overflows = 0;
  const written: [number, number][] = [];
  const logs = new LogAppender({
    write,
    seq: 0,
    bytes: 0,
    maxBytes: Number.MAX_SAFE_INTEGER,
    onOverflow: () => overflows++,
    onWritten: (seq, bytes) => written.push([seq, bytes]),
    ...options,
  });
  return { logs, overflows: () => overflows, written };
}

const bytesOf = (entries: LogEntryToWrite[], stream: Stream) =>
  Buffer.concat(entries.filter((e) => e.stream === stream).map((e) => e.data));

describe('LogAppender', () => {
  test('the first chunk goes out at once; chunks meanwhile are coalesced into the next write', async () => {
    const w = manualWriter();
    const { logs, written } = appender(w.write);
    logs.push('stdout', Buffer.from('a'));
    assert.equal(w.inFlight(), 1);
    logs.push('stdout', Buffer.from('b'));
    logs.push('stdout', Buffer.from('c'));
    logs.push('stderr', Buffer.from('E'));
    logs.push('stdout', Buffer.from('d'));
    assert.equal(w.inFlight(), 1, 'one write in flight at a time');
    await w.complete();
    assert.equal(w.inFlight(), 1);
    await w.complete();
    await logs.flushed();
    assert.deepEqual(
      w.batches.map((b) => b.map((e) => [e.seq, e.stream, e.data.toString()])),
      [
        [[1, 'stdout', 'a']],
        [
          [2, 'stdout', 'bc'],
          [3, 'stderr', 'E'],
          [4, 'stdout', 'd'],
        ],
      ],
    );
    assert.deepEqual(written, [
      [1, 1],
      [4, 5],
    ]);
    assert.equal(logs.seq, 4);
    assert.equal(logs.bytes, 5);
  });

  test('entries never exceed the entry size; large chunks are split, later ones fill the open entry', async () => {
    const w = manualWriter();
    const { logs } = appender(w.write, { maxEntryBytes: 4 });
    logs.push('stdout', Buffer.from('0123456789')); // three entries, written at once
    logs.push('stdout', Buffer.from('ab')); // meanwhile: a new entry (the last one is on its way)
    logs.push('stdout', Buffer.from('cdefg')); // fills it up to 4, the rest opens the next
    while (w.inFlight()) await w.complete();
    await logs.flushed();
    assert.deepEqual(
      w.batches.map((b) => b.map((e) => [e.seq, e.data.toString()])),
      [
        [
          [1, '0123'],
          [2, '4567'],
          [3, '89'],
        ],
        [
          [4, 'abcd'],
          [5, 'efg'],
        ],
      ],
    );
  });

  test('seqs continue after the stream’s last one and bytes after the job’s earlier count (a retry)', async () => {
    const w = manualWriter();
    const { logs } = appender(w.write, { seq: 41, bytes: 1000 });
    logs.push('stderr', Buffer.from('x'));
    await w.complete();
    await logs.flushed();
    assert.equal(w.batches[0]![0]!.seq, 42);
    assert.equal(logs.bytes, 1001);
    assert.equal(logs.storedBytes, 1001);
  });

  test('property: any chunks, any write timing: per-stream bytes exact, arrival order kept, seqs 1..n, sizes bounded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            stream: fc.constantFrom<Stream>('stdout', 'stderr'),
            data: fc.uint8Array({ minLength: 1, maxLength: 40 }),
            completeFirst: fc.boolean(),
          }),
          { maxLength: 60 },
        ),
        fc.integer({ min: 1, max: 50 }),
        async (chunks, maxEntryBytes) => {
          const w = manualWriter();
          const { logs } = appender(w.write, { maxEntryBytes });
          const arrival: [Stream, number][] = [];
          for (const c of chunks) {
            if (c.completeFirst && w.inFlight()) await w.complete();
            logs.push(c.stream, Buffer.from(c.data));
            for (const byte of c.data) arrival.push([c.stream, byte]);
          }
          while (w.inFlight()) await w.complete();
          await logs.flushed();
          const entries = w.batches.flat();
          assert.deepEqual(
            entries.map((e) => e.seq),
            entries.map((_, i) => i + 1),
          );
          for (const e of entries) assert.ok(e.data.length >= 1 && e.data.length <= maxEntryBytes);
          // The interleaving of the two streams is the arrival order, byte for byte.
          assert.deepEqual(
            entries.flatMap((e) => [...e.data].map((b) => [e.stream, b])),
            arrival,
          );
          for (const stream of ['stdout', 'stderr'] as const)
            assert.deepEqual(
              bytesOf(entries, stream),
              Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => Buffer.from(c.data))),
            );
          assert.equal(logs.seq, entries.length);
          assert.equal(logs.storedSeq, entries.length);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('output cap: exactly the bytes up to the cap are stored, overflow reported once, the rest dropped', async () => {
    const w = manualWriter();
    const { logs, overflows } = appender(w.write, { maxBytes: 10, bytes: 3 });
    logs.push('stdout', Buffer.from('abcd'));
    logs.push('stderr', Buffer.from('EFGHIJ'));
    assert.equal(overflows(), 1);
    logs.push('stdout', Buffer.from('dropped'));
    assert.equal(overflows(), 1);
    while (w.inFlight()) await w.complete();
    await logs.flushed();
    const entries = w.batches.flat();
    assert.equal(bytesOf(entries, 'stdout').toString(), 'abcd');
    assert.equal(bytesOf(entries, 'stderr').toString(), 'EFG');
    assert.equal(logs.bytes, 10);
    assert.equal(logs.overflowed, true);
  });

  test('a chunk that ends exactly at the cap is no overflow', async () => {
    const w = manualWriter();
    const { logs, overflows } = appender(w.write, { maxBytes: 4 });
    logs.push('stdout', Buffer.from('abcd'));
    assert.equal(overflows(), 0);
    logs.push('stdout', Buffer.from('e'));
    assert.equal(overflows(), 1);
    while (w.inFlight()) await w.complete();
    assert.equal(bytesOf(w.batches.flat(), 'stdout').toString(), 'abcd');
  });

  test('backpressure: push() answers false above the high-water mark; drained() once written', async () => {
    const w = manualWriter();
    const { logs } = appender(w.write, { highWaterBytes: 8 });
    assert.equal(logs.push('stdout', Buffer.alloc(6)), true);
    assert.equal(logs.push('stdout', Buffer.alloc(6)), false);
    let drained = false;
    const waiting = logs.drained().then(() => (drained = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(drained, false);
    await w.complete(); // the first 6 bytes: 6 left, under the mark
    await waiting;
    assert.equal(drained, true);
    while (w.inFlight()) await w.complete();
    await logs.flushed();
  });

  test('a failed write fails flushed() with its error, releases paused pipes and drops later chunks', async () => {
    const w = manualWriter();
    const { logs } = appender(w.write, { highWaterBytes: 4 });
    logs.push('stdout', Buffer.from('first'));
    assert.equal(logs.push('stdout', Buffer.from('second')), false);
    const paused = logs.drained();
    const flushed = assert.rejects(logs.flushed(), /redis down/);
    await w.fail(new Error('redis down'));
    await paused;
    await flushed;
    await assert.rejects(logs.flushed(), /redis down/);
    logs.push('stdout', Buffer.from('third'));
    assert.equal(w.inFlight(), 0, 'nothing more is written');
    assert.equal(logs.storedBytes, 0);
  });

  test('a writer that throws synchronously fails the same way', async () => {
    const { logs } = appender(() => {
      throw new Error('not connected');
    });
    logs.push('stdout', Buffer.from('x'));
    await assert.rejects(logs.flushed(), /not connected/);
  });

  test('flushed() with nothing written resolves at once', async () => {
    const w = manualWriter();
    const { logs } = appender(w.write);
    await logs.flushed();
    assert.equal(w.batches.length, 0);
  });
});
