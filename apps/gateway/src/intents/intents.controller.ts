import { type Principal } from '@axle/auth';
import {
  BulkCancelUseCase,
  ChangePolicyUseCase,
  IntentQueries,
  ResolveIntentUseCase,
  ResumeIntentUseCase,
  SubmitIntentUseCase,
  toEventView,
  toIntentView,
  TransferIntentUseCase,
} from '@axle/intents';
import {
  CAPABILITIES,
  eventsQuerySchema,
  HTTP_HEADERS,
  parseOrThrow,
  ValidationFailedError,
} from '@axle/protocol';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { idempotencyKeyOf, OwnIdempotency } from '../http/idempotency.interceptor';
import { CurrentPrincipal, headerValue } from '../http/request-context';

/** REST adapter over the intent use cases (reference/axme-wire.md §1.3). */
@Controller('v1/intents')
export class IntentsController {
  constructor(
    private readonly submit: SubmitIntentUseCase,
    private readonly resumeIntent: ResumeIntentUseCase,
    private readonly resolveIntent: ResolveIntentUseCase,
    private readonly transferIntent: TransferIntentUseCase,
    private readonly policies: ChangePolicyUseCase,
    private readonly bulkCancel: BulkCancelUseCase,
    private readonly queries: IntentQueries,
  ) {}

  /** Its idempotency record is written in the intent's own transaction (SubmitIntentUseCase). */
  @Post()
  @OwnIdempotency()
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const result = await this.submit.execute({
      principal,
      body,
      idempotencyKey: idempotencyKeyOf(request),
      requestHash: request.idempotency?.requestHash,
      requestId: request.id,
      traceId: request.traceId ?? null,
    });
    if (result.replayed) void reply.header(HTTP_HEADERS.idempotentReplayed, 'true');
    return reply.status(result.status).send(result.body);
  }

  @Get()
  async list(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    return this.queries.list(principal, query);
  }

  @Post('bulk-cancel')
  @HttpCode(200)
  async cancelMany(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.bulkCancel.execute({ principal, body, requestId: request.id });
  }

  @Get(':id')
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return { ok: true, intent: toIntentView(await this.queries.get(principal, id)) };
  }

  @Get(':id/events')
  async events(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Query() query: unknown) {
    const { since, limit } = parseOrThrow(eventsQuerySchema, query, 'query');
    const events = await this.queries.events(principal, id, since, limit);
    return { ok: true, events: events.map(toEventView) };
  }

  @Post(':id/resume')
  @HttpCode(200)
  async resume(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.resumeIntent.execute(command(principal, id, body, request));
  }

  @Post(':id/resolve')
  @HttpCode(200)
  async resolve(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.resolveIntent.execute(command(principal, id, body, request));
  }

  @Post(':id/transfer')
  @HttpCode(200)
  async transfer(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.transferIntent.execute(command(principal, id, body, request));
  }

  @Post(':id/controls')
  @HttpCode(200)
  async controls(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.policies.controls(command(principal, id, body, request));
  }

  @Post(':id/policy')
  @HttpCode(200)
  async policy(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.policies.policy(command(principal, id, body, request));
  }
}

/** `GET /v1/capabilities` (reference §1.3). */
@Controller('v1/capabilities')
export class CapabilitiesController {
  @Get()
  capabilities() {
    return { ok: true, capabilities: CAPABILITIES, supported_intent_types: ['*.*.v1', 'intent.*.v1'] };
  }
}

/** The common shape of the intent write commands. */
function command(principal: Principal, intentId: string, body: unknown, request: FastifyRequest) {
  return {
    principal,
    intentId,
    body,
    ownerAgent: ownerAgent(request),
    idempotencyKey: idempotencyKeyOf(request),
    requestId: request.id,
  };
}

/** `?owner_agent=` or `x-owner-agent`; when both are given they must match (reference §1.1). */
export function ownerAgent(request: FastifyRequest): string | undefined {
  const query = (request.query as Record<string, unknown> | undefined)?.owner_agent;
  const fromQuery = typeof query === 'string' ? query : undefined;
  const fromHeader = headerValue(request, 'x-owner-agent');
  if (fromQuery && fromHeader && fromQuery !== fromHeader) {
    throw new ValidationFailedError(
      [
        {
          path: 'owner_agent',
          loc: ['query', 'owner_agent'],
          message: 'owner_agent query and x-owner-agent header differ',
          type: 'mismatch',
        },
      ],
      'owner_agent_mismatch',
    );
  }
  return fromQuery ?? fromHeader;
}
