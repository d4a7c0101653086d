import { type Principal } from '@axle/auth';
import {
  EXEC_REDIS,
  type ExecCommand,
  ExecJobService,
  ExecSessionService,
  ExecToolService,
  McpServerService,
} from '@axle/exec';
import { attachQuerySchema, CAP_TOKEN_HEADER, parseOrThrow } from '@axle/protocol';
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import { type FastifyReply, type FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { ShownOnce } from '../http/idempotency.interceptor';
import { CurrentPrincipal, headerValue } from '../http/request-context';
import { startCursor } from '../http/sse';
import { serveAttach } from './attach';

/** AXP exec sessions (SPEC §7, docs/exec.md): REST adapter over ExecSessionService. */
@Controller('v1/exec/sessions')
export class ExecSessionsController {
  constructor(private readonly sessions: ExecSessionService) {}

  @Post()
  @HttpCode(200)
  @ShownOnce('cap_token')
  async open(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.open({ ...command(principal, request, body), body });
  }

  @Get(':id')
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.get({ ...command(principal, request, query), sessionId: id });
  }

  @Post(':id/close')
  @HttpCode(200)
  async close(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.close({ ...command(principal, request, body), sessionId: id, body });
  }

  @Post(':id/attenuate')
  @HttpCode(200)
  @ShownOnce('cap_token')
  async attenuate(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.sessions.attenuate({ ...command(principal, request, body), sessionId: id, body });
  }
}

/** Tools of an exec session (docs/exec.md "Tools"): index, describe, call. */
@Controller('v1/exec/sessions')
export class ExecToolsController {
  constructor(private readonly tools: ExecToolService) {}

  @Get(':id/index')
  async index(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.tools.index({ ...command(principal, request, query), sessionId: id });
  }

  @Get(':id/describe/:name')
  async describe(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('name') name: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.tools.describe({ ...command(principal, request, query), sessionId: id, name });
  }

  @Post(':id/tools/:name/call')
  @HttpCode(200)
  async call(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Param('name') name: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.tools.call({ ...command(principal, request, body), sessionId: id, name, body });
  }
}

/** MCP servers an operator registers for the org; their tools mount into exec sessions. */
@Controller('v1/exec/mcp-servers')
export class ExecMcpServersController {
  constructor(private readonly servers: McpServerService) {}

  @Post()
  @HttpCode(200)
  async register(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.servers.register({ principal, requestId: request.id, body });
  }

  @Get()
  async list(@CurrentPrincipal() principal: Principal, @Req() request: FastifyRequest) {
    return this.servers.list({ principal, requestId: request.id });
  }

  @Delete(':id')
  async remove(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.servers.remove({ principal, requestId: request.id, id });
  }
}

/** AXP exec jobs: start, status, cancel and the attach SSE stream. */
@Controller('v1/exec/jobs')
export class ExecJobsController {
  constructor(
    private readonly jobs: ExecJobService,
    @Inject(EXEC_REDIS) private readonly redis: Redis,
  ) {}

  @Post()
  @HttpCode(200)
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.jobs.create({
      ...command(principal, request, body),
      body,
      idempotencyClaim: request.idempotency?.claim,
    });
  }

  @Get(':id')
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.jobs.get({ ...command(principal, request, query), jobId: id });
  }

  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.jobs.cancel({ ...command(principal, request, body), jobId: id, body });
  }

  @Get(':id/attach')
  async attach(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const options = parseOrThrow(attachQuerySchema, query ?? {}, 'query');
    const source = await this.jobs.attach({ ...command(principal, request, query), jobId: id });
    await serveAttach(request, reply, this.redis, source, startCursor(request, options.since));
  }
}

/**
 * The caller and its capability token: the x-axp-cap-token header, else `cap_token` in the body or
 * the query (EventSource cannot set headers).
 */
export function command(principal: Principal, request: FastifyRequest, carrier: unknown): ExecCommand {
  const fromCarrier =
    carrier &&
    typeof carrier === 'object' &&
    typeof (carrier as { cap_token?: unknown }).cap_token === 'string'
      ? (carrier as { cap_token: string }).cap_token
      : undefined;
  return {
    principal,
    requestId: request.id,
    capToken: headerValue(request, CAP_TOKEN_HEADER) ?? fromCarrier,
  };
}
