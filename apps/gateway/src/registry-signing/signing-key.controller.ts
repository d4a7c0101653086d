import { type Principal, SigningKeyService } from '@axle/auth';
import { parseOrThrow, signingKeyRequestSchema } from '@axle/protocol';
import { Body, Controller, Delete, Get, Param, Put, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { CurrentPrincipal } from '../http/request-context';

/** An agent's Ed25519 signing key (SPEC §2 "Signed agents", docs/signed-agents.md). */
@Controller('v1/agents/:org/:ws/:name/signing-key')
export class SigningKeyController {
  constructor(private readonly keys: SigningKeyService) {}

  @Get()
  async get(
    @CurrentPrincipal() principal: Principal,
    @Param('org') org: string,
    @Param('ws') ws: string,
    @Param('name') name: string,
  ) {
    return this.keys.get(principal, org, ws, name);
  }

  @Put()
  async set(
    @CurrentPrincipal() principal: Principal,
    @Param('org') org: string,
    @Param('ws') ws: string,
    @Param('name') name: string,
    @Body() body: unknown,
    @Req() request: FastifyRequest,
  ) {
    const input = parseOrThrow(signingKeyRequestSchema, body ?? {});
    return this.keys.set(principal, org, ws, name, input, request.id);
  }

  @Delete()
  async remove(
    @CurrentPrincipal() principal: Principal,
    @Param('org') org: string,
    @Param('ws') ws: string,
    @Param('name') name: string,
    @Req() request: FastifyRequest,
  ) {
    return this.keys.remove(principal, org, ws, name, request.id);
  }
}
