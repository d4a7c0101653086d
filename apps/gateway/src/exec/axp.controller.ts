import { type Principal } from '@axle/auth';
import { AXP_PARSE_ERROR, AxpRpcService } from '@axle/exec';
import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';

/**
 * The AXP JSON-RPC 2.0 facade (docs/exec.md "JSON-RPC facade"): requests and batches; protocol
 * errors in the body with HTTP 200. The API key is required like on every route.
 */
@Controller('axp')
export class AxpController {
  constructor(private readonly rpc: AxpRpcService) {}

  @Post()
  @HttpCode(200)
  async call(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const payload = request.jsonParseFailed ? AXP_PARSE_ERROR : body;
    const answer = await this.rpc.handle({ principal, requestId: request.id }, payload);
    if (answer === null) {
      void reply.status(204);
      return undefined;
    }
    return answer;
  }
}
