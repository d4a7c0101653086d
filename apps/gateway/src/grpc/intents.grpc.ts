import { requestHash } from '@axle/data';
import {
  EventStreamService,
  IntentQueries,
  ResolveIntentUseCase,
  ResumeIntentUseCase,
  SubmitIntentUseCase,
  toEventView,
  toIntentView,
} from '@axle/intents';
import { TERMINAL_STATUSES } from '@axle/protocol';
import { type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Injectable } from '@nestjs/common';
import { type GrpcCall, GrpcCallGate } from './grpc-call';
import { given, json, type Json, text } from './grpc-fields';
import { pipeSource } from './grpc-stream';

type CreateIntentRequest = {
  intent_type: string;
  to_agent: string;
  payload_json: string;
  correlation_id: string;
  reply_to: string;
  deadline_at: string;
  remind_after_seconds: number;
  remind_interval_seconds: number;
  max_reminders: number;
  escalate_to: string;
  max_delivery_attempts: number;
  human_task_json: string;
  idempotency_key: string;
};
type ResumeIntentRequest = {
  intent_id: string;
  action: string;
  result_json: string;
  error_json: string;
  task_result_json: string;
  reason: string;
  approve_current_step: boolean;
};
type ResolveIntentRequest = {
  intent_id: string;
  status: string;
  result_json: string;
  error_json: string;
  reason: string;
};
type IntentEventMessage = ReturnType<typeof eventMessage>;

/**
 * The `axle.v1.Intents` service (libs/protocol/proto/axle/v1/intents.proto): each RPC builds the
 * REST body from the message's set fields and runs the same use case as the REST route, so
 * validation, lifecycle, tenancy and errors are one implementation.
 */
@Injectable()
export class IntentsGrpcService {
  constructor(
    private readonly gate: GrpcCallGate,
    private readonly submit: SubmitIntentUseCase,
    private readonly resumeIntent: ResumeIntentUseCase,
    private readonly resolveIntent: ResolveIntentUseCase,
    private readonly queries: IntentQueries,
    private readonly streams: EventStreamService,
  ) {}

  handlers(): UntypedServiceImplementation {
    const { gate } = this;
    return {
      CreateIntent: gate.write('CreateIntent', (req: CreateIntentRequest, call) => this.create(req, call)),
      GetIntent: gate.unary('GetIntent', async (req: { intent_id: string }, { principal }) =>
        intentMessage(toIntentView(await this.queries.get(principal, req.intent_id))),
      ),
      ListIntentEvents: gate.unary(
        'ListIntentEvents',
        async (req: { intent_id: string; since: number; limit: number }, { principal }) => {
          const events = await this.queries.events(principal, req.intent_id, req.since, req.limit || 1000);
          return { events: events.map((e) => eventMessage(toEventView(e))) };
        },
      ),
      StreamIntentEvents: gate.serverStream('StreamIntentEvents', (req, call, stream) =>
        this.follow(req as { intent_id: string; since: number }, call, stream),
      ),
      ResumeIntent: gate.write('ResumeIntent', async (req: ResumeIntentRequest, { principal, requestId }) =>
        answer(
          await this.resumeIntent.execute({
            principal,
            intentId: req.intent_id,
            requestId,
            body: given({
              action: req.action,
              result: json(req.result_json, 'result_json'),
              error: json(req.error_json, 'error_json'),
              task_result: json(req.task_result_json, 'task_result_json'),
              reason: req.reason,
              approve_current_step: req.approve_current_step || undefined,
            }),
          }),
        ),
      ),
      ResolveIntent: gate.write(
        'ResolveIntent',
        async (req: ResolveIntentRequest, { principal, requestId }) =>
          answer(
            await this.resolveIntent.execute({
              principal,
              intentId: req.intent_id,
              requestId,
              body: given({
                status: req.status,
                result: json(req.result_json, 'result_json'),
                error: json(req.error_json, 'error_json'),
                reason: req.reason,
              }),
            }),
          ),
      ),
    };
  }

  private async create(req: CreateIntentRequest, { principal, requestId }: GrpcCall) {
    const body = given({
      intent_type: req.intent_type,
      to_agent: req.to_agent,
      payload: json(req.payload_json, 'payload_json') ?? {},
      correlation_id: req.correlation_id,
      reply_to: req.reply_to,
      deadline_at: req.deadline_at,
      remind_after_seconds: req.remind_after_seconds,
      remind_interval_seconds: req.remind_interval_seconds,
      max_reminders: req.max_reminders,
      escalate_to: req.escalate_to,
      max_delivery_attempts: req.max_delivery_attempts,
      human_task: json(req.human_task_json, 'human_task_json'),
    });
    const key = req.idempotency_key || undefined;
    // Hashed as the REST route hashes its body: a key replays across both faces.
    const result = await this.submit.execute({
      principal,
      body,
      idempotencyKey: key,
      requestHash: key ? requestHash(body, { params: {}, query: {} }) : undefined,
      requestId,
      traceId: null,
    });
    return { ...answer(result.body), replayed: result.replayed };
  }

  /** The events after `since`, then each new one, until the intent ended or the call is gone. */
  private async follow(
    req: { intent_id: string; since: number },
    { principal }: GrpcCall,
    stream: ServerWritableStream<unknown, IntentEventMessage>,
  ): Promise<void> {
    const source = await this.streams.intentEvents(principal, req.intent_id);
    await pipeSource(
      this.streams.bus,
      source,
      req.since,
      stream,
      (frame) => eventMessage(frame.data),
      // Nothing after `since` and the intent has ended: a reconnect after its last event.
      async () => TERMINAL_STATUSES.has((await this.queries.get(principal, req.intent_id)).status),
    );
  }
}

function answer(body: Json) {
  const intent = (body.intent ?? {}) as Json;
  return {
    intent_id: text(body.intent_id) || text(intent.intent_id),
    status: text(body.status) || text(intent.status),
    body_json: JSON.stringify(body),
    replayed: false,
  };
}

export function intentMessage(view: Json) {
  return {
    intent_id: text(view.intent_id),
    intent_type: text(view.intent_type),
    status: text(view.status),
    waiting_reason: text(view.waiting_reason),
    from_agent: text(view.from_agent),
    to_agent: text(view.to_agent),
    handler: text(view.handler),
    correlation_id: text(view.correlation_id),
    last_seq: Number(view.last_seq ?? 0),
    created_at: text(view.created_at),
    updated_at: text(view.updated_at),
    completed_at: text(view.completed_at),
    view_json: JSON.stringify(view),
  };
}

function eventMessage(view: Json) {
  return {
    intent_id: text(view.intent_id),
    seq: Number(view.seq ?? 0),
    event_type: text(view.event_type),
    status: text(view.status),
    waiting_reason: text(view.waiting_reason),
    handler: text(view.handler),
    actor: text(view.actor),
    at: text(view.at),
    details_json: JSON.stringify(view.details ?? {}),
  };
}
