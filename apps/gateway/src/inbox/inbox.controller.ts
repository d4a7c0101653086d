import { type Principal } from '@axle/auth';
import { type InboxCommand, InboxService } from '@axle/inbox';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';
import { idempotencyKeyOf, OwnIdempotency } from '../http/idempotency.interceptor';
import { ownerAgent } from '../intents/intents.controller';

/** REST adapter over the inbox service (reference/axme-wire.md §1.3 "Inbox / human actions"). */
@Controller('v1/inbox')
export class InboxController {
  constructor(private readonly inbox: InboxService) {}

  @Get()
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.list({ ...command(principal, request), query });
  }

  @Get('changes')
  async changes(
    @CurrentPrincipal() principal: Principal,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.changes({ ...command(principal, request), query });
  }

  @Get(':id')
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.get({ ...command(principal, request), threadId: id });
  }

  /** The body, if any, is ignored. */
  @Post(':id/read')
  @OwnIdempotency()
  @HttpCode(200)
  async read(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.read({ ...command(principal, request), threadId: id });
  }

  @Post(':id/reply')
  @OwnIdempotency()
  @HttpCode(200)
  async reply(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.reply({ ...command(principal, request), threadId: id, body });
  }

  @Post(':id/delegate')
  @OwnIdempotency()
  @HttpCode(200)
  async delegate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.delegate({ ...command(principal, request), threadId: id, body });
  }

  @Post(':id/approve')
  @OwnIdempotency()
  @HttpCode(200)
  async approve(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.decide({ ...command(principal, request), threadId: id, body, outcome: 'approved' });
  }

  @Post(':id/reject')
  @OwnIdempotency()
  @HttpCode(200)
  async reject(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.decide({ ...command(principal, request), threadId: id, body, outcome: 'rejected' });
  }

  @Post(':id/messages/delete')
  @OwnIdempotency()
  @HttpCode(200)
  async deleteMessages(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.deleteMessages({ ...command(principal, request), threadId: id, body });
  }
}

/** `POST /v1/approvals/{approval_id}/decision` (reference §1.3, §1.4 "Human tasks list"). */
@Controller('v1/approvals')
export class ApprovalsController {
  constructor(private readonly inbox: InboxService) {}

  @Post(':id/decision')
  @OwnIdempotency()
  @HttpCode(200)
  async decide(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.inbox.decideApproval({ ...command(principal, request), approvalId: id, body });
  }
}

function command(principal: Principal, request: FastifyRequest): InboxCommand {
  return {
    principal,
    ownerAgent: ownerAgent(request),
    idempotencyKey: idempotencyKeyOf(request),
    requestId: request.id,
    traceId: request.traceId ?? null,
  };
}
