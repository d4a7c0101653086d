import { type ExecLogStream, execLogStreamKey } from '@axle/protocol';
import { type Redis } from 'ioredis';

/** One entry of a job's log stream. `seq` is also the entry id (`<seq>-0`), so reads by seq are range reads. */
export type ExecLogEntry = { seq: number; stream: ExecLogStream; data: Buffer };

type RawEntry = [id: Buffer, fields: Buffer[]];

/**
 * A job's output in a Redis stream (SPEC §7): entries `{seq, stream, data}` with explicit ids
 * `<seq>-0`, so Redis itself refuses a seq that does not grow, replay after a seq is XRANGE and
 * following is XREAD BLOCK from `<seq>-0`. `data` holds the raw bytes (Redis values are binary
 * safe; entries written before it was raw hold `data_b64` instead, and are still read). The last
 * entry is `exit`.
 */
export class ExecLogStore {
  constructor(private readonly redis: Redis) {}

  async append(jobId: string, seq: number, stream: ExecLogStream, data: Buffer): Promise<void> {
    await this.appendMany(jobId, [{ seq, stream, data }]);
  }

  /** Appends entries in order in one round trip (a pipeline); throws the first refusal. */
  async appendMany(jobId: string, entries: readonly ExecLogEntry[]): Promise<void> {
    const key = execLogStreamKey(jobId);
    if (entries.length === 1) {
      const [e] = entries as [ExecLogEntry];
      await this.redis.xadd(key, `${e.seq}-0`, 'seq', String(e.seq), 'stream', e.stream, 'data', e.data);
      return;
    }
    const pipeline = this.redis.pipeline();
    for (const e of entries)
      pipeline.xadd(key, `${e.seq}-0`, 'seq', String(e.seq), 'stream', e.stream, 'data', e.data);
    const results = await pipeline.exec();
    if (!results) throw new Error('the log append pipeline was discarded');
    for (const [err] of results) if (err) throw err;
  }

  /** Entries with seq > after, oldest first, at most `count`. */
  async readAfter(jobId: string, after: number, count: number): Promise<ExecLogEntry[]> {
    const raw = (await this.redis.xrangeBuffer(
      execLogStreamKey(jobId),
      `${after + 1}-0`,
      '+',
      'COUNT',
      count,
    )) as RawEntry[];
    return raw.map(toEntry);
  }

  /**
   * Waits up to `blockMs` for entries with seq > after (answers at once when there are some). Needs
   * a connection of its own (`blocking`): XREAD BLOCK holds it for the whole wait.
   */
  static async follow(
    blocking: Redis,
    jobId: string,
    after: number,
    count: number,
    blockMs: number,
  ): Promise<ExecLogEntry[]> {
    const result = await blocking.xreadBuffer(
      'COUNT',
      count,
      'BLOCK',
      blockMs,
      'STREAMS',
      execLogStreamKey(jobId),
      `${after}-0`,
    );
    return (result?.[0]?.[1] ?? []).map(toEntry);
  }

  /** The highest seq in the stream (0 when empty). */
  async lastSeq(jobId: string): Promise<number> {
    const raw = (await this.redis.xrevrangeBuffer(
      execLogStreamKey(jobId),
      '+',
      '-',
      'COUNT',
      1,
    )) as RawEntry[];
    const last = raw[0];
    return last ? seqOfId(last[0]) : 0;
  }

  async expire(jobId: string, seconds: number): Promise<void> {
    await this.redis.expire(execLogStreamKey(jobId), seconds);
  }
}

/** `<seq>-0` → seq. */
function seqOfId(id: Buffer): number {
  const text = id.toString('latin1');
  const dash = text.indexOf('-');
  return Number(dash < 0 ? text : text.slice(0, dash));
}

function toEntry([id, fields]: RawEntry): ExecLogEntry {
  let seq: number | null = null;
  let stream: ExecLogStream = 'stdout';
  let data: Buffer | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString('latin1');
    const value = fields[i + 1]!;
    if (name === 'data') data = value;
    else if (name === 'data_b64') data ??= Buffer.from(value.toString('latin1'), 'base64');
    else if (name === 'seq') seq = Number(value.toString('latin1'));
    else if (name === 'stream') {
      const s = value.toString('latin1');
      stream = s === 'stderr' || s === 'exit' ? s : 'stdout';
    }
  }
  return { seq: seq ?? seqOfId(id), stream, data: data ?? Buffer.alloc(0) };
}
