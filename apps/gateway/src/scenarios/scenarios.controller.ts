import { type Principal } from '@axle/auth';
import { HTTP_HEADERS } from '@axle/protocol';
import { ScenarioService } from '@axle/scenarios';
import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { idempotencyKeyOf, OwnIdempotency } from '../http/idempotency.interceptor';
import { CurrentPrincipal } from '../http/request-context';

/** `POST /v1/scenarios/validate|apply` (reference §3.9). */
@Controller('v1/scenarios')
export class ScenariosController {
  constructor(private readonly scenarios: ScenarioService) {}

  @Post('validate')
  @OwnIdempotency()
  @HttpCode(200)
  async validate(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.scenarios.validate({ principal, body, requestId: request.id });
  }

  @Post('apply')
  @OwnIdempotency()
  async apply(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const result = await this.scenarios.apply({
      principal,
      body,
      idempotencyKey: idempotencyKeyOf(request),
      requestId: request.id,
      traceId: request.traceId ?? null,
    });
    if (result.replayed) void reply.header(HTTP_HEADERS.idempotentReplayed, 'true');
    return reply.status(200).send(result.body);
  }
}
