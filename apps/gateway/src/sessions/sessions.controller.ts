import { type Principal } from '@axle/auth';
import { type SessionCommand, SessionService } from '@axle/sessions';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';
import { serveStream, streamRequest } from '../http/sse';

/** REST and long-poll SSE adapter over the session service (reference §1.3 "Sessions", docs/sessions.md). */
@Controller('v1/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionService) {}

  @Post()
  @HttpCode(200)
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.create({ ...command(principal, request), body });
  }

  @Get()
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.list({ ...command(principal, request), query });
  }

  @Get(':id')
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.get({ ...command(principal, request), sessionId: id });
  }

  @Post(':id/messages')
  @HttpCode(200)
  async postMessage(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.postMessage({ ...command(principal, request), sessionId: id, body });
  }

  @Get(':id/messages')
  async messages(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.messages({ ...command(principal, request), sessionId: id, query });
  }

  @Get(':id/feed')
  async feed(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.feed({ ...command(principal, request), sessionId: id, query });
  }

  @Get(':id/feed/stream')
  async feedStream(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const { options } = streamRequest(request, query);
    const source = await this.sessions.feedStream(principal, id);
    await serveStream(request, reply, this.sessions.bus, source, options, 'session_feed');
  }

  @Post(':id/complete')
  @HttpCode(200)
  async complete(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.complete({ ...command(principal, request), sessionId: id, body });
  }
}

function command(principal: Principal, request: FastifyRequest): SessionCommand {
  return { principal, requestId: request.id };
}
