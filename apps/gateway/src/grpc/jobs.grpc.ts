import { type AttachFrame, EXEC_REDIS, type ExecCommand, ExecJobService } from '@axle/exec';
import { type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Inject, Injectable } from '@nestjs/common';
import { type Redis } from 'ioredis';
import { HEARTBEAT_MS, streamsShutdown } from '../http/sse';
import { type GrpcCall, GrpcCallGate } from './grpc-call';
import { given, json, type Json, text } from './grpc-fields';

type StartJobRequest = {
  session_id: string;
  cap_token: string;
  argv: string[];
  command: string;
  cwd: string;
  env: Record<string, string>;
  stalled_policy: string;
  limits_json: string;
};
type JobRequest = { job_id: string; cap_token: string };
type AttachJobRequest = JobRequest & { since: number };

/**
 * The `axle.v1.Jobs` service (libs/protocol/proto/axle/v1/jobs.proto): exec jobs over the same
 * ExecJobService as REST; the capability token travels in each message.
 */
@Injectable()
export class JobsGrpcService {
  constructor(
    private readonly gate: GrpcCallGate,
    private readonly jobs: ExecJobService,
    @Inject(EXEC_REDIS) private readonly redis: Redis,
  ) {}

  handlers(): UntypedServiceImplementation {
    const { gate, jobs } = this;
    return {
      StartJob: gate.write('StartJob', async (req: StartJobRequest, call) =>
        answer(
          await jobs.create({
            ...command(call, req.cap_token),
            body: given({
              session_id: req.session_id,
              // As the /axp facade does: a command line runs under sh -c.
              command: req.argv.length > 0 ? req.argv : req.command ? ['sh', '-c', req.command] : undefined,
              cwd: req.cwd,
              env: Object.keys(req.env).length > 0 ? req.env : undefined,
              stalled_policy: req.stalled_policy,
              limits: json(req.limits_json, 'limits_json'),
            }),
          }),
        ),
      ),
      GetJob: gate.unary('GetJob', async (req: JobRequest, call) =>
        answer(await jobs.get({ ...command(call, req.cap_token), jobId: req.job_id })),
      ),
      CancelJob: gate.write('CancelJob', async (req: JobRequest, call) =>
        answer(await jobs.cancel({ ...command(call, req.cap_token), jobId: req.job_id, body: {} })),
      ),
      AttachJob: gate.serverStream('AttachJob', (req, call, stream) =>
        this.attach(req as AttachJobRequest, call, stream),
      ),
    };
  }

  /** Replay after `since`, then live (XREAD BLOCK on a connection of its own), until the exit. */
  private async attach(
    req: AttachJobRequest,
    call: GrpcCall,
    stream: ServerWritableStream<unknown, Json>,
  ): Promise<void> {
    const source = await this.jobs.attach({ ...command(call, req.cap_token), jobId: req.job_id });
    const blocking = this.redis.duplicate({ maxRetriesPerRequest: 1, enableOfflineQueue: true });
    blocking.on('error', () => undefined);
    const stop = () => blocking.disconnect();
    stream.on('cancelled', stop);
    streamsShutdown.signal.addEventListener('abort', stop);
    try {
      let cursor = req.since;
      while (!stream.cancelled && !streamsShutdown.signal.aborted) {
        for (const frame of await source.next(blocking, cursor, HEARTBEAT_MS)) {
          stream.write(outputOf(frame));
          cursor = frame.id;
          if (frame.event === 'exit') return;
        }
      }
    } catch (err) {
      // A detach or a drain disconnected the blocking read: not an error of the call.
      if (!stream.cancelled && !streamsShutdown.signal.aborted) throw err;
    } finally {
      streamsShutdown.signal.removeEventListener('abort', stop);
      blocking.disconnect();
    }
  }
}

function command({ principal, requestId }: GrpcCall, capToken: string): ExecCommand {
  return { principal, requestId, capToken: capToken || undefined };
}

function answer(body: Json) {
  const job = (body.job ?? {}) as Json;
  return {
    job_id: text(body.job_id) || text(job.job_id),
    status: text(body.status) || text(job.status),
    body_json: JSON.stringify(body),
  };
}

function outputOf(frame: AttachFrame): Json {
  if (frame.event === 'exit')
    return { seq: frame.id, exit: { status: frame.data.status, exit_json: JSON.stringify(frame.data) } };
  const { stream, data, data_b64 } = frame.data;
  const bytes = data_b64 !== undefined ? Buffer.from(data_b64, 'base64') : Buffer.from(data ?? '', 'utf8');
  return { seq: frame.id, chunk: { stream, data: bytes } };
}
