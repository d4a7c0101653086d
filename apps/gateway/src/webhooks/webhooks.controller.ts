import { type Principal } from '@axle/auth';
import { type WebhookCommand, WebhooksService } from '@axle/webhooks';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';
import { idempotencyKeyOf, OwnIdempotency } from '../http/idempotency.interceptor';
import { ownerAgent } from '../intents/intents.controller';

/** REST adapter over the webhooks service (reference/axme-wire.md §1.3 "Webhooks", docs/webhooks.md). */
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post('subscriptions')
  @OwnIdempotency()
  async subscribe(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const result = await this.webhooks.subscribe({ ...command(principal, request), body });
    return reply.status(result.status).send(result.body);
  }

  @Get('subscriptions')
  async list(@CurrentPrincipal() principal: Principal, @Req() request: FastifyRequest) {
    return this.webhooks.list(command(principal, request));
  }

  @Delete('subscriptions/:id')
  async revoke(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.webhooks.revoke({ ...command(principal, request), subscriptionId: id });
  }

  @Post('events')
  @OwnIdempotency()
  async publish(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const result = await this.webhooks.publish({ ...command(principal, request), body });
    return reply.status(result.status).send(result.body);
  }

  @Get('events/:id')
  async getEvent(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.webhooks.getEvent({ ...command(principal, request), eventId: id });
  }

  /** The body, if any, is ignored (the SDKs send none). */
  @Post('events/:id/replay')
  @OwnIdempotency()
  @HttpCode(200)
  async replay(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const result = await this.webhooks.replay({ ...command(principal, request), eventId: id });
    return reply.status(result.status).send(result.body);
  }
}

function command(principal: Principal, request: FastifyRequest): WebhookCommand {
  return {
    principal,
    ownerAgent: ownerAgent(request),
    idempotencyKey: idempotencyKeyOf(request),
    requestId: request.id,
    traceId: request.traceId ?? null,
  };
}
