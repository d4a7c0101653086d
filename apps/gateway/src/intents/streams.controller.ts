import { type Principal } from '@axle/auth';
import { EventStreamService } from '@axle/intents';
import { agentAddress } from '@axle/protocol';
import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';
import { serveStream, streamRequest } from '../http/sse';

/** Long-poll SSE streams: one intent's events, and an agent's deliveries. */
@Controller('v1')
export class StreamsController {
  constructor(private readonly streams: EventStreamService) {}

  @Get('intents/:id/events/stream')
  async intentEvents(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { options } = streamRequest(request, query);
    const source = await this.streams.intentEvents(principal, id);
    await serveStream(request, reply, this.streams.bus, source, options, 'intent_events');
  }

  @Get('agents/:org/:ws/:name/intents/stream')
  async agentStream(
    @CurrentPrincipal() principal: Principal,
    @Param('org') org: string,
    @Param('ws') ws: string,
    @Param('name') name: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { options, status } = streamRequest(request, query);
    const source = this.streams.agentStream(principal, agentAddress(org, ws, name), status);
    await serveStream(request, reply, this.streams.bus, source, options, 'agent');
  }
}
