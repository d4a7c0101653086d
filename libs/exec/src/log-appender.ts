import { type ExecLogStream } from '@axle/protocol';

/** A log entry on its way to the job's stream. */
export type LogEntryToWrite = { seq: number; stream: Exclude<ExecLogStream, 'exit'>; data: Buffer };

/** The largest entry the appender builds out of coalesced chunks. */
export const LOG_ENTRY_MAX_BYTES = 1024 * 1024;
/** Bytes accepted but not yet stored above which push() asks its caller to pause (backpressure). */
export const LOG_HIGH_WATER_BYTES = 4 * 1024 * 1024;

export type LogAppenderOptions = {
  /** Stores entries in this order, in one round trip; resolves once all of them are stored. */
  write(entries: readonly LogEntryToWrite[]): Promise<void>;
  /** The last seq already in the stream: the first entry gets seq + 1. */
  seq: number;
  /** Output bytes the job has already written (a retry continues its count). */
  bytes: number;
  /** The job's output cap: bytes past it are not stored, and `onOverflow` is called (once). */
  maxBytes: number;
  onOverflow(): void;
  /** After each stored batch: the last stored seq and the output bytes stored up to it. */
  onWritten?(seq: number, bytes: number): void;
  maxEntryBytes?: number;
  highWaterBytes?: number;
};

type Pending = { seq: number; stream: LogEntryToWrite['stream']; parts: Buffer[]; length: number };

/**
 * Appends a job's stdout/stderr chunks to its log (docs/exec.md "Logs and attach"), in arrival order,
 * with one write in flight at a time. Chunks that arrive while a write is in flight are coalesced
 * into the next entries: consecutive chunks of the same stream join one entry of at most
 * `maxEntryBytes` (a new entry when the stream changes or the entry is full), and every entry
 * queued meanwhile goes out in the next write (one Redis round trip). Seqs are given in arrival
 * order as entries are opened, so they grow by one per entry whatever the batching.
 *
 * Backpressure instead of unbounded buffering: push() answers false once more than
 * `highWaterBytes` wait to be stored; the caller pauses its pipe until drained() resolves.
 * The output cap is applied here too: the bytes up to `maxBytes` are stored, the rest dropped and
 * `onOverflow` called so the runner kills the job. A failed write fails flushed(); later chunks are
 * dropped (the job then ends runner_error).
 */
export class LogAppender {
  /** The last seq given to an entry (stored or not). */
  seq: number;
  /** Output bytes accepted (stored or on their way). */
  bytes: number;
  /** The last seq and the output bytes known stored. */
  storedSeq: number;
  storedBytes: number;
  overflowed = false;
  private readonly maxEntryBytes: number;
  private readonly highWaterBytes: number;
  private queue: Pending[] = [];
  /** Bytes queued or in flight. */
  private unstored = 0;
  private writing = false;
  private failure: { error: Error } | null = null;
  private drainWaiters: (() => void)[] = [];
  private idleWaiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(private readonly options: LogAppenderOptions) {
    this.seq = options.seq;
    this.storedSeq = options.seq;
    this.bytes = options.bytes;
    this.storedBytes = options.bytes;
    this.maxEntryBytes = Math.max(1, options.maxEntryBytes ?? LOG_ENTRY_MAX_BYTES);
    this.highWaterBytes = options.highWaterBytes ?? LOG_HIGH_WATER_BYTES;
  }

  /** Accepts a chunk; false when the caller should pause until drained(). */
  push(stream: LogEntryToWrite['stream'], chunk: Buffer): boolean {
    if (this.overflowed || this.failure) return true;
    let data = chunk;
    const room = this.options.maxBytes - this.bytes;
    if (data.length > room) {
      data = data.subarray(0, Math.max(0, room));
      this.overflowed = true;
    }
    if (data.length > 0) {
      this.enqueue(stream, data);
      this.bytes += data.length;
      this.pump();
    }
    if (this.overflowed) this.options.onOverflow();
    return this.unstored <= this.highWaterBytes;
  }

  /** Resolves once the unstored bytes are back under the high-water mark (or a write failed). */
  drained(): Promise<void> {
    if (this.unstored <= this.highWaterBytes || this.failure) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Resolves once everything accepted is stored; rejects with the error of a failed write. */
  flushed(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure.error);
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }

  private enqueue(stream: LogEntryToWrite['stream'], data: Buffer): void {
    this.unstored += data.length;
    let offset = 0;
    while (offset < data.length) {
      const last = this.queue[this.queue.length - 1];
      let entry: Pending;
      if (last && last.stream === stream && last.length < this.maxEntryBytes) entry = last;
      else {
        entry = { seq: ++this.seq, stream, parts: [], length: 0 };
        this.queue.push(entry);
      }
      const take = Math.min(this.maxEntryBytes - entry.length, data.length - offset);
      entry.parts.push(offset === 0 && take === data.length ? data : data.subarray(offset, offset + take));
      entry.length += take;
      offset += take;
    }
  }

  private pump(): void {
    if (this.writing || this.failure || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.writing = true;
    const entries = batch.map((p) => ({
      seq: p.seq,
      stream: p.stream,
      data: p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.length),
    }));
    const size = batch.reduce((sum, p) => sum + p.length, 0);
    let written: Promise<void>;
    try {
      written = this.options.write(entries);
    } catch (err) {
      written = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    written.then(
      () => {
        this.writing = false;
        this.unstored -= size;
        this.storedSeq = entries[entries.length - 1]!.seq;
        this.storedBytes += size;
        try {
          this.options.onWritten?.(this.storedSeq, this.storedBytes);
        } catch {
          // progress is best effort
        }
        if (this.unstored <= this.highWaterBytes) this.release();
        this.pump();
        if (!this.writing && this.queue.length === 0) {
          const waiters = this.idleWaiters.splice(0);
          for (const w of waiters) w.resolve();
        }
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.writing = false;
        this.failure = { error };
        this.queue = [];
        this.release();
        const waiters = this.idleWaiters.splice(0);
        for (const w of waiters) w.reject(error);
      },
    );
  }

  private release(): void {
    const waiters = this.drainWaiters.splice(0);
    for (const resolve of waiters) resolve();
  }
}
