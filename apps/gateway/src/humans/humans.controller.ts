import { type Principal } from '@axle/auth';
import { MagicLinkPages, MyTasksService, type PageAnswer } from '@axle/humans';
import { Body, Controller, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { CurrentPrincipal, headerValue, Public } from '../http/request-context';

/** `GET /v1/me/tasks`: the signed-in person's human tasks (docs/humans.md). */
@Controller('v1/me')
export class MeController {
  constructor(private readonly myTasks: MyTasksService) {}

  @Get('tasks')
  async tasks(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    return this.myTasks.list(principal, query);
  }
}

/**
 * The email magic-link pages: public (the token is the credential), server-rendered HTML for
 * browsers, JSON for clients that send or accept JSON.
 */
@Public()
@Controller('h')
export class MagicLinkController {
  constructor(private readonly pages: MagicLinkPages) {}

  @Get(':token')
  async view(@Param('token') token: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply) {
    send(reply, await this.pages.view(token), wantsJson(request));
  }

  @Post(':token')
  async submit(
    @Param('token') token: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    send(reply, await this.pages.submit(token, body, request.id), wantsJson(request));
  }
}

/** JSON when the request body is JSON, or the client accepts JSON and not HTML. */
function wantsJson(request: FastifyRequest): boolean {
  const type = headerValue(request, 'content-type') ?? '';
  if (/application\/json/i.test(type)) return true;
  const accept = headerValue(request, 'accept') ?? '';
  return /application\/json/i.test(accept) && !/text\/html/i.test(accept);
}

function send(reply: FastifyReply, answer: PageAnswer, json: boolean): void {
  void reply
    .status(answer.status)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    .type(json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8')
    .send(json ? JSON.stringify(answer.json) : answer.html);
}
