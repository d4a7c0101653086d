import { type ExecLogStream, execLogStreamKey } from '@axle/protocol';
import { type Redis } from 'ioredis';

/** One entry of a job's log stream. `seq` is also the entry id (`<seq>-0`), so reads by seq are range reads. */
export type ExecLogEntry = { seq: number; stream: ExecLogStream; data: Buffer };

type RawEntry = [id: string, fields: string[]];

/**
 * A job's output in a Redis stream (SPEC §7): entries `{seq, stream, data_b64}` with explicit ids
 * `<seq>-0`, so Redis itself refuses a seq that does not grow, replay after a seq is XRANGE and
 * following is XREAD BLOCK from `<seq>-0`. The last entry is `exit`.
 */
export class ExecLogStore {
  constructor(private readonly redis: Redis) {}

  async append(jobId: string, seq: number, stream: ExecLogStream, data: Buffer): Promise<void> {
    await this.redis.xadd(
      execLogStreamKey(jobId),
      `${seq}-0`,
      'seq',
      String(seq),
      'stream',
      stream,
      'data_b64',
      data.toString('base64'),
    );
  }

  /** Entries with seq > after, oldest first, at most `count`. */
  async readAfter(jobId: string, after: number, count: number): Promise<ExecLogEntry[]> {
    const raw = (await this.redis.xrange(
      execLogStreamKey(jobId),
      `${after + 1}-0`,
      '+',
      'COUNT',
      count,
    )) as RawEntry[];
    return raw.map(toEntry);
  }

  /**
   * Waits up to `blockMs` for entries with seq > after. Needs a connection of its own (`blocking`):
   * XREAD BLOCK holds it for the whole wait.
   */
  static async follow(
    blocking: Redis,
    jobId: string,
    after: number,
    count: number,
    blockMs: number,
  ): Promise<ExecLogEntry[]> {
    const result = await blocking.xread(
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
    const raw = (await this.redis.xrevrange(execLogStreamKey(jobId), '+', '-', 'COUNT', 1)) as RawEntry[];
    const last = raw[0];
    return last ? toEntry(last).seq : 0;
  }

  async expire(jobId: string, seconds: number): Promise<void> {
    await this.redis.expire(execLogStreamKey(jobId), seconds);
  }
}

function toEntry([id, fields]: RawEntry): ExecLogEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const stream = map.get('stream');
  return {
    seq: Number(map.get('seq') ?? id.split('-')[0]),
    stream: stream === 'stderr' || stream === 'exit' ? stream : 'stdout',
    data: Buffer.from(map.get('data_b64') ?? '', 'base64'),
  };
}
