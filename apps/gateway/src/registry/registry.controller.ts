import { type Principal } from '@axle/auth';
import { type RegistryCommand, RegistryService } from '@axle/registry';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { ShownOnce } from '../http/idempotency.interceptor';
import { CurrentPrincipal } from '../http/request-context';

function command(principal: Principal, request: FastifyRequest): RegistryCommand {
  return { principal, requestId: request.id };
}

/** Organizations, their workspaces and members (reference/axme-wire.md §1.3 "Enterprise / identity"). */
@Controller('v1/organizations')
export class OrganizationsController {
  constructor(private readonly registry: RegistryService) {}

  @HttpCode(200)
  @Post()
  create(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Body() body: unknown) {
    return this.registry.createOrganization({ ...command(p, r), body });
  }

  @Get()
  list(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Query() query: unknown) {
    return this.registry.listOrganizations({ ...command(p, r), query });
  }

  @Get(':orgId')
  get(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('orgId') orgId: string) {
    return this.registry.getOrganization({ ...command(p, r), orgId });
  }

  @Patch(':orgId')
  update(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Body() body: unknown,
  ) {
    return this.registry.updateOrganization({ ...command(p, r), orgId, body });
  }

  @HttpCode(200)
  @Post(':orgId/workspaces')
  createWorkspace(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Body() body: unknown,
  ) {
    return this.registry.createWorkspace({ ...command(p, r), orgId, body });
  }

  @Get(':orgId/workspaces')
  listWorkspaces(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('orgId') orgId: string) {
    return this.registry.listWorkspaces({ ...command(p, r), orgId });
  }

  @Get(':orgId/workspaces/:workspaceId')
  getWorkspace(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Param('workspaceId') workspaceId: string,
  ) {
    return this.registry.getWorkspace({ ...command(p, r), orgId, workspaceId });
  }

  @HttpCode(200)
  @Post(':orgId/members')
  createMember(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Body() body: unknown,
  ) {
    return this.registry.createMember({ ...command(p, r), orgId, body });
  }

  @Get(':orgId/members')
  listMembers(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('orgId') orgId: string) {
    return this.registry.listMembers({ ...command(p, r), orgId });
  }

  @Get(':orgId/members/:memberId')
  getMember(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Param('memberId') memberId: string,
  ) {
    return this.registry.getMember({ ...command(p, r), orgId, memberId });
  }

  @Patch(':orgId/members/:memberId')
  updateMember(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Param('memberId') memberId: string,
    @Body() body: unknown,
  ) {
    return this.registry.updateMember({ ...command(p, r), orgId, memberId, body });
  }

  @Delete(':orgId/members/:memberId')
  deleteMember(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('orgId') orgId: string,
    @Param('memberId') memberId: string,
  ) {
    return this.registry.deleteMember({ ...command(p, r), orgId, memberId });
  }
}

/** Service accounts (agents) and their API keys. New secrets are in the answer once only. */
@Controller('v1/service-accounts')
export class ServiceAccountsController {
  constructor(private readonly registry: RegistryService) {}

  @HttpCode(200)
  @Post()
  @ShownOnce('webhook_secret')
  create(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Body() body: unknown) {
    return this.registry.createServiceAccount({ ...command(p, r), body });
  }

  @Get()
  list(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Query() query: unknown) {
    return this.registry.listServiceAccounts({ ...command(p, r), query });
  }

  @Get(':id')
  get(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('id') id: string) {
    return this.registry.getServiceAccount({ ...command(p, r), serviceAccountId: id });
  }

  @Patch(':id')
  @ShownOnce('webhook_secret')
  update(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('id') id: string,
    @Body() body: unknown,
  ) {
    return this.registry.updateServiceAccount({ ...command(p, r), serviceAccountId: id, body });
  }

  @Delete(':id')
  remove(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('id') id: string) {
    return this.registry.deleteServiceAccount({ ...command(p, r), serviceAccountId: id });
  }

  @HttpCode(200)
  @Post(':id/webhook-secret/rotate')
  @ShownOnce('webhook_secret')
  rotateWebhookSecret(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('id') id: string) {
    return this.registry.rotateWebhookSecret({ ...command(p, r), serviceAccountId: id });
  }

  @HttpCode(200)
  @Post(':id/keys')
  @ShownOnce('key.token')
  createKey(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('id') id: string,
    @Body() body: unknown,
  ) {
    return this.registry.createApiKey({ ...command(p, r), serviceAccountId: id, body });
  }

  @Get(':id/keys')
  listKeys(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('id') id: string) {
    return this.registry.listApiKeys({ ...command(p, r), serviceAccountId: id });
  }

  @HttpCode(200)
  @Post(':id/keys/:keyId/revoke')
  revokeKey(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('id') id: string,
    @Param('keyId') keyId: string,
  ) {
    return this.registry.revokeApiKey({ ...command(p, r), serviceAccountId: id, keyId });
  }
}

/** The AXP agents view (GET /v1/agents, /v1/agents/{org}/{ws}/{name}); the SDKs' listAgents/getAgent. */
@Controller('v1/agents')
export class AgentsController {
  constructor(private readonly registry: RegistryService) {}

  @Get()
  list(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Query() query: unknown) {
    return this.registry.listAgents({ ...command(p, r), query });
  }

  @Get(':org/:ws/:name')
  get(
    @CurrentPrincipal() p: Principal,
    @Req() r: FastifyRequest,
    @Param('org') org: string,
    @Param('ws') ws: string,
    @Param('name') name: string,
  ) {
    return this.registry.getAgent({ ...command(p, r), address: `agent://${org}/${ws}/${name}` });
  }

  /** One URL-encoded segment: `agent%3A%2F%2Forg%2Fws%2Fname` or `org%2Fws%2Fname`. */
  @Get(':address')
  getEncoded(@CurrentPrincipal() p: Principal, @Req() r: FastifyRequest, @Param('address') address: string) {
    return this.registry.getAgent({ ...command(p, r), address });
  }
}
