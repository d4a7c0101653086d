import { type Principal } from '@axle/auth';
import { type MeshCommand, MeshService } from '@axle/mesh';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { CurrentPrincipal, headerValue } from '../http/request-context';

/** REST adapter over the mesh service (reference/axme-wire.md §1.3 "Agent Mesh", docs/mesh.md). */
@Controller('v1/mesh')
export class MeshController {
  constructor(private readonly mesh: MeshService) {}

  @Post('heartbeat')
  @HttpCode(200)
  async heartbeat(
    @CurrentPrincipal() principal: Principal,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.mesh.heartbeat({ ...command(principal, request), body, bodyBytes: bodyBytes(request, body) });
  }

  @Get('agents')
  async agents(
    @CurrentPrincipal() principal: Principal,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.mesh.listAgents({ ...command(principal, request), query });
  }

  @Get('agents/:addressId')
  async agent(
    @CurrentPrincipal() principal: Principal,
    @Param('addressId') addressId: string,
    @Req() request: FastifyRequest,
  ) {
    return this.mesh.getAgent({ ...command(principal, request), addressId });
  }

  @Post('agents/:addressId/kill')
  @HttpCode(200)
  async kill(
    @CurrentPrincipal() principal: Principal,
    @Param('addressId') addressId: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.mesh.kill({ ...command(principal, request), addressId, body });
  }

  @Post('agents/:addressId/resume')
  @HttpCode(200)
  async resume(
    @CurrentPrincipal() principal: Principal,
    @Param('addressId') addressId: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.mesh.resume({ ...command(principal, request), addressId, body });
  }

  @Get('events')
  async events(
    @CurrentPrincipal() principal: Principal,
    @Query() query: unknown,
    @Req() request: FastifyRequest,
  ) {
    return this.mesh.listEvents({ ...command(principal, request), query });
  }
}

function command(principal: Principal, request: FastifyRequest): MeshCommand {
  return { principal, requestId: request.id };
}

/** The body's size as sent (Content-Length), or as parsed when the body came chunked. */
function bodyBytes(request: FastifyRequest, body: unknown): number {
  const declared = Number(headerValue(request, 'content-length'));
  const parsed = body === undefined ? 0 : Buffer.byteLength(JSON.stringify(body));
  return Number.isFinite(declared) ? Math.max(declared, parsed) : parsed;
}
